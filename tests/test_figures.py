"""Figures: non-empty PNGs of the expected pixel size; Voronoi borders of the clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from affectflow.evaluation.figures import (
    CORPUS_NOTE,
    plot_annotation_clusters,
    plot_confusions,
    plot_per_fold_f1,
    plot_table1,
    voronoi_edges,
)
from affectflow.evaluation.metrics import fold_metrics, per_fold_table
from affectflow.evaluation.tables import load_paper_table1, table1


def _check_png(path: Path, width: int, height: int) -> None:
    assert path.stat().st_size > 1000
    image = imread(path)
    assert image.shape[:2] == (height, width)
    # Not a blank canvas.
    assert image[..., :3].std() > 0.01


def test_annotation_clusters(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    va = np.clip(np.round(rng.normal(3, 0.8, size=(400, 2)) * 2) / 2, 1, 5)
    centres = np.array([[2.0, 3.5], [3.0, 2.5], [4.0, 3.2]])
    path = tmp_path / "fig2.png"
    plot_annotation_clusters(va, centres, path, CORPUS_NOTE, figsize=(6, 5))
    _check_png(path, 600, 500)


def test_voronoi_edges_are_equidistant_borders() -> None:
    centres = np.array([[2.0, 2.0], [4.0, 2.0], [3.0, 4.0]])
    edges = voronoi_edges(centres, (0.5, 0.5), (5.5, 5.5))
    assert len(edges) == 3
    for seg in edges:
        for point in np.linspace(seg[0], seg[1], 7):
            d = np.sort(np.linalg.norm(centres - point, axis=1))
            assert d[1] - d[0] == pytest.approx(0, abs=1e-6)  # on a border of the two nearest
    # Two centres: one vertical border at x = 3 across the whole box.
    (seg,) = voronoi_edges(np.array([[2.0, 3.0], [4.0, 3.0]]), (0.5, 0.5), (5.5, 5.5))
    np.testing.assert_allclose(seg[:, 0], 3.0)
    assert abs(seg[0, 1] - seg[1, 1]) == pytest.approx(5.0)


def test_confusions(tmp_path: Path) -> None:
    confusions = {
        "svm_vf": np.array([[5, 1, 0], [2, 6, 1], [0, 0, 0]]),  # a class never seen: zero row
        "lstm_vf": np.eye(3, dtype=int) * 4,
        "blstm_vf": np.ones((3, 3), dtype=int),
    }
    path = tmp_path / "confusions.png"
    plot_confusions(confusions, ["low", "medium", "high"], path, CORPUS_NOTE, panel_size=2.5)
    _check_png(path, int(round(100 * (3 * 2.5 + 0.8))), int(round(100 * (2.5 + 0.8))))


def test_per_fold_f1_and_table1(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    records = []
    for clf in ("svm_vf", "blstm_vf"):
        for fold in ("Ses01F", "Ses01M", "Ses02F"):
            y = rng.integers(0, 3, 40)
            records.append(
                {
                    "task": "valence3",
                    "classifier": clf,
                    "fold": fold,
                    **fold_metrics(y, rng.integers(0, 3, 40), 3),
                }
            )
    path = tmp_path / "f1.png"
    plot_per_fold_f1(per_fold_table(records), "valence3", path, CORPUS_NOTE)
    _check_png(path, 800, 450)
    with pytest.raises(ValueError, match="no per-fold"):
        plot_per_fold_f1(per_fold_table(records), "clusters5", path)

    t1 = table1(
        {
            ("Ses01F", "valence3"): ["pitch__mean", "CH1_x__max", "FH1_y__std"],
            ("Ses01F", "activation3"): ["mfb_3__mean", "energy__mean"],
        }
    )
    path = tmp_path / "table1.png"
    plot_table1(pd.DataFrame(t1), path, None)
    _check_png(path, 700, 450)
    # With the paper's shares beside ours (hatched bars), as the workflow draws it.
    t1 = table1({("Ses01F", "clusters3"): ["mfb_3__mean"]}, load_paper_table1())
    plot_table1(t1, path, CORPUS_NOTE, figsize=(5, 4))
    _check_png(path, 500, 400)
