"""Result figures as PNG (matplotlib's Agg renderer; no pyplot, so no global state).

- :func:`plot_annotation_clusters`: the paper's Figure 2 — training annotations in the
  valence-activation plane (jittered), k-means centres as grey squares, and the class borders
  (the Voronoi edges of the centres) as dotted lines.
- :func:`plot_confusions`: row-normalised confusion matrices, one panel per classifier.
- :func:`plot_per_fold_f1`: F1 per test speaker (fold) and classifier for one task.
- :func:`plot_table1`: Table 1 as stacked bars (feature-group shares per task).

Every function takes ``note``: when given (e.g. :data:`CORPUS_NOTE`), it is printed as a
footnote, so that no figure of the synthetic corpus can pass for an IEMOCAP result. Figures
have a fixed pixel size, ``figsize * dpi``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from affectflow.evaluation.metrics import CLASSIFIERS, sort_results
from affectflow.evaluation.significance import REFERENCE
from affectflow.evaluation.tables import N_SELECTED_ROW, TASK_LABELS
from affectflow.features.groups import GROUPS
from affectflow.io import atomic_path

CORPUS_NOTE = "synthetic corpus — not IEMOCAP"
DPI = 100
GROUP_COLOURS = ("#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd")


def classifier_label(clf: str) -> str:
    """``"BLSTM v+f"`` for ``blstm_vf`` (the id itself when unknown)."""
    name, features = CLASSIFIERS.get(clf, (clf, ""))
    return f"{name} {features}".strip()


def _save(fig: Figure, path: str | Path, note: str | None) -> None:
    if note:
        # supxlabel: the constrained layout reserves room for it under the axes.
        fig.supxlabel(note, fontsize=9, color="#a00000")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi)


def _clip(t_lo: float, t_hi: float, a: float, b: float) -> tuple[float, float]:
    """Intersect ``[t_lo, t_hi]`` with ``{t : a * t <= b}``."""
    if abs(a) < 1e-12:
        return (t_lo, t_hi) if b >= -1e-12 else (1.0, 0.0)
    return (t_lo, min(t_hi, b / a)) if a > 0 else (max(t_lo, b / a), t_hi)


def voronoi_edges(
    centres: np.ndarray, lo: Sequence[float], hi: Sequence[float]
) -> list[np.ndarray]:
    """Segments (2 x 2 arrays) of the borders between nearest-centre regions inside a box.

    For each pair of centres ``i, j`` the border is the part of their perpendicular bisector
    ``p(t) = mid + t * u`` that lies in the box and is no farther from ``i`` than from any
    other centre ``k``; each condition is linear in ``t``, so the border is an exact interval.
    """
    c = np.asarray(centres, dtype=float)
    lo_arr, hi_arr = np.asarray(lo, float), np.asarray(hi, float)
    segments = []
    for i, j in combinations(range(len(c)), 2):
        d = c[j] - c[i]
        norm = float(np.linalg.norm(d))
        if norm == 0:
            continue
        mid = (c[i] + c[j]) / 2
        u = np.array([-d[1], d[0]]) / norm
        t_lo, t_hi = -np.inf, np.inf
        for axis in range(2):  # lo <= mid + t u <= hi
            t_lo, t_hi = _clip(t_lo, t_hi, u[axis], hi_arr[axis] - mid[axis])
            t_lo, t_hi = _clip(t_lo, t_hi, -u[axis], mid[axis] - lo_arr[axis])
        for k in range(len(c)):  # |p - c_i|^2 <= |p - c_k|^2  <=>  2 p.(c_k - c_i) <= ...
            if k in (i, j):
                continue
            e = c[k] - c[i]
            rhs = float(c[k] @ c[k] - c[i] @ c[i]) - 2 * float(mid @ e)
            t_lo, t_hi = _clip(t_lo, t_hi, 2 * float(u @ e), rhs)
        if np.isfinite(t_lo) and np.isfinite(t_hi) and t_hi - t_lo > 1e-9:
            segments.append(np.array([mid + t_lo * u, mid + t_hi * u]))
    return segments


def plot_annotation_clusters(
    va_train: np.ndarray,
    centres: np.ndarray,
    path: str | Path,
    note: str | None = None,
    title: str = "Training annotations with cluster midpoints (fold 1, 3 clusters)",
    jitter: float = 0.08,
    seed: int = 0,
    figsize: tuple[float, float] = (6.0, 6.0),
) -> None:
    """The paper's Figure 2: (valence, activation) points, centres and class borders."""
    va = np.asarray(va_train, dtype=float).reshape(-1, 2)
    c = np.asarray(centres, dtype=float).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    noisy = va + rng.normal(0.0, jitter, size=va.shape)
    lo, hi = (0.5, 0.5), (5.5, 5.5)
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(noisy[:, 0], noisy[:, 1], s=4, alpha=0.35, color="#1f4e79", linewidths=0)
    for seg in voronoi_edges(c, lo, hi):
        ax.plot(seg[:, 0], seg[:, 1], linestyle=":", color="black", linewidth=1.8)
    ax.scatter(c[:, 0], c[:, 1], marker="s", s=110, color="#8c8c8c", edgecolors="black", zorder=3)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("valence")
    ax.set_ylabel("activation")
    ax.set_title(title, fontsize=10)
    _save(fig, path, note)


def plot_confusions(
    confusions: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    path: str | Path,
    note: str | None = None,
    title: str = "Confusion matrices (summed over folds, row-normalised)",
    panel_size: float = 2.8,
) -> None:
    """Row-normalised heatmaps (rows = true class), one panel per classifier, in % per cell."""
    if not confusions:
        raise ValueError("no confusion matrices to plot")
    clfs = list(confusions)
    n = len(clfs)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig = Figure(
        figsize=(panel_size * ncols + 0.8, panel_size * nrows + 0.8), dpi=DPI, layout="constrained"
    )
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        cm = np.asarray(confusions[clfs[k]], dtype=float)
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) * 100
        image = ax.imshow(norm, vmin=0, vmax=100, cmap="Blues")
        size = len(norm)
        for r in range(size):
            for col in range(size):
                colour = "white" if norm[r, col] > 60 else "black"
                ax.text(
                    col,
                    r,
                    f"{norm[r, col]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
        ax.set_xticks(range(size), class_names[:size], rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(size), class_names[:size], fontsize=7)
        ax.set_title(classifier_label(clfs[k]), fontsize=9)
        if k % ncols == 0:
            ax.set_ylabel("true", fontsize=8)
        ax.set_xlabel("predicted", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="% of true class")
    fig.suptitle(title, fontsize=10)
    _save(fig, path, note)


def plot_per_fold_f1(
    per_fold: pd.DataFrame,
    task: str,
    path: str | Path,
    note: str | None = None,
    figsize: tuple[float, float] = (8.0, 4.5),
) -> None:
    """F1 (%) per fold (test speaker) and classifier for ``task``; BLSTM drawn bold."""
    sub = sort_results(per_fold[per_fold["task"] == task])
    if sub.empty:
        raise ValueError(f"no per-fold results for task {task!r}")
    folds = sorted(sub["fold"].unique())
    x = {f: i for i, f in enumerate(folds)}
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for clf, grp in sub.groupby("classifier", sort=False):
        xs = [x[f] for f in grp["fold"]]
        bold = clf == REFERENCE
        ax.plot(
            xs,
            100 * grp["f1"].to_numpy(float),
            marker="o",
            markersize=4,
            linewidth=2.4 if bold else 1.0,
            alpha=1.0 if bold else 0.75,
            label=classifier_label(clf),
            zorder=3 if bold else 2,
        )
    ax.set_xticks(range(len(folds)), folds, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("fold (test speaker)")
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"F1 per fold: {TASK_LABELS.get(task, task)}", fontsize=10)
    _save(fig, path, note)


def plot_table1(
    table1_df: pd.DataFrame,
    path: str | Path,
    note: str | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
) -> None:
    """Table 1 as stacked bars: one bar per task, segments = feature-group shares (%).

    Where ``table1_df`` has ``<task> (paper)`` columns, the paper's bar stands beside ours
    (hatched) for comparison.
    """
    df = table1_df.set_index("feature group")
    tasks = [c for c in df.columns if not str(c).endswith("(paper)") and c != "corpus"]
    paired = [t for t in tasks if f"{t} (paper)" in df.columns]
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(tasks), dtype=float)
    bars = [(tasks, x - 0.2 if paired else x, 0.36 if paired else 0.6, None)]
    if paired:
        bars.append(
            (
                [f"{t} (paper)" for t in paired],
                np.array([x[tasks.index(t)] for t in paired]) + 0.2,
                0.36,
                "//",
            )
        )
    for k, (columns, xs, width, hatch) in enumerate(bars):
        bottom = np.zeros(len(columns))
        for group, colour in zip(GROUPS, GROUP_COLOURS, strict=True):
            values = df.loc[group, columns].to_numpy(float) if group in df.index else bottom * 0
            values = np.nan_to_num(values)
            ax.bar(
                xs,
                values,
                bottom=bottom,
                color=colour,
                width=width,
                hatch=hatch,
                label=group if k == 0 else None,
                edgecolor="white" if hatch else None,
            )
            for xi, b, v in zip(xs, bottom, values, strict=True):
                if v >= 6:
                    ax.text(xi, b + v / 2, f"{v:.0f}", ha="center", va="center", fontsize=7)
            bottom += values
    labels = list(tasks)
    if N_SELECTED_ROW in df.index:
        counts = df.loc[N_SELECTED_ROW, tasks].to_numpy(float)
        labels = [f"{t}\n(n={c:.0f})" for t, c in zip(tasks, counts, strict=True)]
    if paired:
        labels = [
            f"{lab}\nours | paper" if t in paired else lab
            for t, lab in zip(tasks, labels, strict=True)
        ]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("share of CFS-selected features (%)")
    ax.set_ylim(0, 100)
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], names[::-1], fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("Selected features per group (Table 1)", fontsize=10)
    _save(fig, path, note)
