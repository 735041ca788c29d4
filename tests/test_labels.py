"""Level mapping, VA clusters and the fold's label table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectflow.folds import make_split
from affectflow.labels import (
    LABEL_COLUMNS,
    TASKS,
    assign_clusters,
    build_labels,
    class_names,
    fit_clusters,
    level3,
)


def fake_index(seed: int = 0, per_speaker: int = 40) -> pd.DataFrame:
    """Index rows of ten speakers with rating means on the 2- and 3-rater grids."""
    rng = np.random.default_rng(seed)
    grid = np.concatenate([np.arange(1, 5.01, 0.5), np.arange(1, 5.01, 1 / 3)])
    rows = []
    for s in range(1, 6):
        for g in "FM":
            for i in range(per_speaker):
                dialog = f"Ses0{s}{g}_impro0{1 + i // 10}"
                rows.append(
                    {
                        "utt_id": f"{dialog}_{g}{i:03d}",
                        "dialog": dialog,
                        "turn": i % 10,
                        "speaker": f"Ses0{s}{g}",
                        "valence": round(float(rng.choice(grid)), 4),
                        "activation": round(float(rng.choice(grid)), 4),
                    }
                )
    return pd.DataFrame(rows)


def test_level3_on_the_paper_grid() -> None:
    assert [level3(v) for v in (1, 1.5, 2)] == [0, 0, 0]
    assert [level3(v) for v in (2.5, 3, 3.5)] == [1, 1, 1]
    assert [level3(v) for v in (4, 4.5, 5)] == [2, 2, 2]


def test_level3_midpoint_rule_elsewhere() -> None:
    values = np.array([1.6667, 2.2499, 2.25, 2.3333, 3.6667, 3.75, 3.7501, 4.3333])
    assert level3(values).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        level3(np.array([2.0, np.nan]))


def test_cluster_order_is_stable_and_assignment_nearest() -> None:
    rng = np.random.default_rng(1)
    blobs = np.array([[4.0, 4.0], [1.5, 4.0], [3.0, 2.0]])
    va = np.concatenate([b + rng.normal(scale=0.2, size=(50, 2)) for b in blobs])
    centres = fit_clusters(va, 3, seed=0)
    assert np.all(np.diff(centres[:, 0]) > 0)  # sorted by valence
    np.testing.assert_allclose(centres, blobs[np.argsort(blobs[:, 0])], atol=0.15)
    for seed in (1, 2, 3):  # other seeds, shuffled input: same numbering
        np.testing.assert_allclose(fit_clusters(rng.permutation(va), 3, seed=seed), centres)
    assert assign_clusters(np.array([[1.4, 4.1], [3.1, 1.9], [4.2, 3.8]]), centres).tolist() == [
        0, 1, 2,
    ]  # fmt: skip
    # nearest by Euclidean distance, ties to the lower number
    sq = np.array([[0.0, 0.0], [2.0, 0.0]])
    assert assign_clusters(np.array([[1.0, 0.0], [1.1, 5.0]]), sq).tolist() == [0, 1]


def test_build_labels_table_and_clusters_from_training_speakers_only() -> None:
    index = fake_index()
    split = make_split(index, "Ses02F")
    labels, clusters = build_labels(index.sample(frac=1, random_state=0), split, seeds=0)
    assert tuple(labels.columns) == LABEL_COLUMNS
    assert labels[["dialog", "turn"]].equals(
        labels.sort_values(["dialog", "turn"])[["dialog", "turn"]]
    )
    roles = labels.groupby("speaker")["split"].first()
    assert roles["Ses02F"] == "test" and roles["Ses02M"] == "validation"
    assert (roles.drop(["Ses02F", "Ses02M"]) == "train").all()
    for task in TASKS:
        assert labels[task].dtype == np.int64
    assert set(clusters) == {"clusters3", "clusters4", "clusters5"}
    train_va = index.loc[index.speaker != "Ses02F", ["valence", "activation"]].to_numpy()
    assert clusters["clusters4"]["n_train"] == len(train_va)
    np.testing.assert_allclose(clusters["clusters4"]["centres"], fit_clusters(train_va, 4, 0))
    merged = labels.merge(index, on="utt_id")
    assert merged["valence3"].tolist() == level3(merged["valence"].to_numpy()).tolist()


def test_test_speaker_labels_do_not_leak_into_clusters() -> None:
    index = fake_index()
    split = make_split(index, "Ses05M")
    _, clusters = build_labels(index, split, seeds={"clusters3": 1, "clusters4": 2, "clusters5": 3})
    perturbed = index.copy()
    test_rows = perturbed.speaker == "Ses05M"
    perturbed.loc[test_rows, ["valence", "activation"]] = 5.0
    labels2, clusters2 = build_labels(
        perturbed, split, seeds={"clusters3": 1, "clusters4": 2, "clusters5": 3}
    )
    assert clusters2 == clusters
    assert (labels2.loc[labels2.speaker == "Ses05M", "valence3"] == 2).all()


def test_class_names() -> None:
    assert class_names("valence3") == ["negative", "neutral", "positive"]
    assert class_names("activation3") == ["low", "medium", "high"]
    clusters = {"clusters3": {"centres": [[2.1, 3.4], [3.0, 2.0], [4.0, 4.0]]}}
    assert class_names("clusters3", clusters)[0] == "c0 (V=2.10, A=3.40)"
    with pytest.raises(ValueError):
        class_names("arousal")


def test_clusters_are_scikit_learns_kmeans_centres() -> None:
    # fit_clusters runs its own k-means (explicit differences, fixed-order sums: the same result
    # on every BLAS kernel); on clear clusters it finds scikit-learn's centres.
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(4)
    blobs = np.array([[1.5, 1.5], [1.5, 4.5], [3.0, 3.0], [4.5, 1.5], [4.5, 4.5]])
    for k in (3, 5):
        va = np.concatenate([b + rng.normal(scale=0.25, size=(40, 2)) for b in blobs[:k]])
        va = np.round(va * 3) / 3  # on the 3-rater grid
        ours = fit_clusters(va, k, seed=0)
        ref = KMeans(k, n_init=10, random_state=0).fit(va).cluster_centers_
        ref = ref[np.lexsort((ref[:, 1], ref[:, 0]))]
        np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_assignment_ties_go_to_the_lower_centre() -> None:
    centres = np.array([[2.0, 3.0], [4.0, 3.0]])
    assert assign_clusters(np.array([[3.0, 3.0], [3.0, 1.0], [3.5, 3.0]]), centres).tolist() == [
        0, 0, 1]
