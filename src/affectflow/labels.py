"""Class labels of the five tasks (paper section 3.4): 3 levels of V and A, 3/4/5 VA clusters.

Levels: the paper maps the rating grid {1, 1.5, 2} -> low (0), {2.5, 3, 3.5} -> medium (1),
{4, 4.5, 5} -> high (2). Other means (thirds from three raters, quarters from four) use the
midpoints between the groups as borders: ``v < 2.25`` low, ``2.25 <= v <= 3.75`` medium,
``v > 3.75`` high. A value exactly on a midpoint (2.25, 3.75) is medium, symmetric on both
sides. So 2.3333 and 3.6667 are medium, 1.6667 low, 4.3333 high.

Clusters: k-means (k = 3, 4, 5; k-means++ seeding, fixed seed, ``n_init`` restarts) on the
(V, A) pairs of the fold's training speakers only (the validation speaker included, the test
speaker never); centres are numbered by ascending valence, then activation; every utterance goes
to the nearest centre (Euclidean; ties to the lower number). The k-means of
:mod:`affectflow.numerics` is used instead of scikit-learn's: rating means lie on a grid, so
points nearly (or exactly) equidistant from two centres are common, and scikit-learn's
``|x|^2 - 2 x.c + |c|^2`` BLAS distances decide them by the kernel's last bits. With explicit
differences and fixed-order sums the centres and assignments are bit-identical on every BLAS
kernel and thread count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from affectflow import registry
from affectflow.folds import FoldSplit
from affectflow.normalize import speakers_from_ids
from affectflow.numerics import kmeans, nearest, squared_distances
from affectflow.targets import TASKS

#: Cluster task -> k (from :mod:`affectflow.registry`).
CLUSTER_KS: dict[str, int] = {
    name: registry.n_classes(name) for name in registry.tasks_of_kind("clusters")
}
LOW_MEDIUM_BORDER = 2.25
MEDIUM_HIGH_BORDER = 3.75
N_INIT = 10
#: Level task -> its level names, low to high (from :mod:`affectflow.registry`).
LEVEL_NAMES: dict[str, tuple[str, ...]] = {
    name: registry.task(name).class_names for name in registry.tasks_of_kind("levels")
}
LABEL_COLUMNS: tuple[str, ...] = ("utt_id", "dialog", "turn", "speaker", "split", *TASKS)


def level3(v: float | np.ndarray) -> int | np.ndarray:
    """Level 0 (low), 1 (medium) or 2 (high) of a rating mean, or of an array of them."""
    arr = np.asarray(v, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError("level3 got NaN: every labelled utterance needs a valence/activation")
    out = (arr >= LOW_MEDIUM_BORDER).astype(np.int64) + (arr > MEDIUM_HIGH_BORDER)
    return int(out) if out.ndim == 0 else out


def fit_clusters(va_train: np.ndarray, k: int, seed: int = 0, n_init: int = N_INIT) -> np.ndarray:
    """k-means centres ``(k, 2)`` of training (V, A) pairs, sorted by valence, then activation."""
    va = np.asarray(va_train, dtype=np.float64)
    if va.ndim != 2 or va.shape[1] != 2:
        raise ValueError(f"va_train must be (n, 2), got {va.shape}")
    if len(va) < k:
        raise ValueError(f"{len(va)} training annotations cannot make {k} clusters")
    centres = kmeans(va, k, n_init=n_init, seed=seed).centres
    return centres[np.lexsort((centres[:, 1], centres[:, 0]))]


def assign_clusters(va: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean; the lower index on ties) for each (V, A) row."""
    va = np.asarray(va, dtype=np.float64).reshape(-1, 2)
    return nearest(squared_distances(va, centres))


def _cluster_seed(seeds: int | Mapping[str, int], task: str) -> int:
    return int(seeds) if isinstance(seeds, int | np.integer) else int(seeds[task])


def build_labels(
    index_rows: pd.DataFrame, split: FoldSplit, seeds: int | Mapping[str, int] = 0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labels of a fold's utterances and the clusters they come from.

    ``index_rows``: the index rows of the utterances to label (every speaker must belong to the
    fold). ``seeds``: one k-means seed, or one per cluster task (``{"clusters3": 0, ...}``).
    Rows get their role from :meth:`FoldSplit.utterance_role`; those it leaves out (turns that
    show the test speaker's face, ``utterances: all`` only) are dropped and counted in
    ``attrs["left_out"]``.
    Returns the ``labels.parquet`` frame (sorted by dialog, turn) and the ``clusters.json``
    dict ``{task: {"k", "seed", "centres": [[V, A], ...], "n_train"}}``.
    """
    rows = index_rows.sort_values(["dialog", "turn"], kind="stable").reset_index(drop=True)
    missing = rows[rows[["valence", "activation"]].isna().any(axis=1)]
    if len(missing):
        raise ValueError(
            f"{len(missing)} utterances lack valence/activation, e.g. {missing.utt_id.iloc[0]}"
        )
    owners = speakers_from_ids(rows["utt_id"], face_owner=True)
    try:
        roles = [split.utterance_role(s, o) for s, o in zip(rows["speaker"], owners, strict=True)]
    except KeyError as err:
        raise ValueError(f"index rows outside fold {split.test}: {err}") from err
    kept = np.array([r is not None for r in roles])
    left_out = int((~kept).sum())  # turns showing the test speaker's face (utterances: all)
    rows = rows[kept].reset_index(drop=True)
    roles = [r for r in roles if r is not None]
    va = rows[["valence", "activation"]].to_numpy(dtype=np.float64)
    is_train = np.array([r != "test" for r in roles], dtype=bool)

    labels = pd.DataFrame(
        {
            "utt_id": rows["utt_id"].astype(str),
            "dialog": rows["dialog"].astype(str),
            "turn": rows["turn"].astype(np.int32),
            "speaker": rows["speaker"].astype(str),
            "split": roles,
        }
    )
    dimensions = {"valence": va[:, 0], "activation": va[:, 1]}
    for task in LEVEL_NAMES:
        labels[task] = level3(dimensions[registry.task(task).dimension])
    clusters: dict[str, Any] = {}
    for task, k in CLUSTER_KS.items():
        seed = _cluster_seed(seeds, task)
        centres = fit_clusters(va[is_train], k, seed)
        labels[task] = assign_clusters(va, centres)
        clusters[task] = {
            "k": k,
            "seed": seed,
            "centres": centres.tolist(),
            "n_train": int(is_train.sum()),
        }
    out = labels[list(LABEL_COLUMNS)]
    out.attrs["left_out"] = left_out
    return out, clusters


def n_classes(task: str) -> int:
    """Number of classes of a task (:func:`affectflow.registry.n_classes`)."""
    return registry.n_classes(task)


def class_names(task: str, clusters_json: Mapping[str, Any] | None = None) -> list[str]:
    """Readable class names: ``["negative", "neutral", "positive"]`` for valence3,
    ``["low", "medium", "high"]`` for activation3, ``"c0 (V=2.10, A=3.40)"`` for clusters."""
    if task in LEVEL_NAMES:
        return list(LEVEL_NAMES[task])
    if task not in CLUSTER_KS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if clusters_json is None:
        return [f"c{i}" for i in range(CLUSTER_KS[task])]
    centres = clusters_json[task]["centres"]
    return [f"c{i} (V={v:.2f}, A={a:.2f})" for i, (v, a) in enumerate(centres)]
