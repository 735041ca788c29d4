"""Paired significance tests of BLSTM against every other classifier, over the folds.

The paper reports means over ten leave-one-speaker-out folds and speaks of "significant"
differences without naming a test. Here each comparison pairs the two classifiers' per-fold
scores (F1 by default) on the same test speakers and runs two two-sided tests:

- Wilcoxon signed-rank (``scipy.stats.wilcoxon``); zero differences are dropped (Wilcoxon's
  convention) and all-zero differences give p = 1;
- a paired permutation (sign-flip) test of the mean difference: exact over all ``2**n`` sign
  patterns for ``n <= 16`` folds, else a seeded Monte-Carlo estimate ``(k + 1) / (B + 1)``.

With 10 folds the smallest attainable two-sided p of both tests is ``2 / 1024 = 0.00195``.
No correction for multiple comparisons is applied; the table lists raw p-values.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from affectflow import registry
from affectflow.evaluation.metrics import sort_results

REFERENCE = registry.REFERENCE
EXACT_MAX_FOLDS = 16
SIGNIFICANCE_COLUMNS: tuple[str, ...] = (
    "task",
    "classifier",
    "vs",
    "n_folds",
    "mean_diff_f1",
    "p_wilcoxon",
    "p_permutation",
)
# Relative tolerance for "at least as extreme" (sums of floats differ in the last bits).
_TOL = 1e-9


def wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired differences (1.0 when all are zero)."""
    d = np.asarray(diff, dtype=float)
    if d.size == 0 or np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(stats.wilcoxon(d, alternative="two-sided").pvalue)
    return 1.0 if np.isnan(p) else min(p, 1.0)


def permutation_p(diff: np.ndarray, n_resamples: int = 100_000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p of the mean paired difference.

    Exact (all ``2**n`` flips) for ``n <= 16``; otherwise ``n_resamples`` random flips drawn
    with ``seed``, counting the observed pattern: ``(k + 1) / (n_resamples + 1)``.
    """
    d = np.asarray(diff, dtype=float)
    n = d.size
    if n == 0:
        return 1.0
    observed = abs(d.sum())
    threshold = observed - _TOL * max(1.0, np.abs(d).sum())
    if n <= EXACT_MAX_FOLDS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        sums = np.abs(signs @ d)
        return float(np.mean(sums >= threshold))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_resamples, 10_000):
        size = min(10_000, n_resamples - start)
        signs = rng.choice((1.0, -1.0), size=(size, n))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= threshold))
    return (hits + 1) / (n_resamples + 1)


def significance_table(
    per_fold: pd.DataFrame,
    reference: str = REFERENCE,
    metric: str = "f1",
    n_resamples: int = 100_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per task, ``reference`` (BLSTM) against each other classifier, paired over folds.

    Columns ``task, classifier, vs, n_folds, mean_diff_f1, p_wilcoxon, p_permutation``:
    ``classifier`` is the compared one, ``vs`` the reference; ``mean_diff_f1`` is the mean of
    reference minus classifier in percentage points (positive: the reference is better).
    Only folds scored by both enter; pairs without a common fold are left out. ``metric``
    picks another per-fold column (the column keeps its name ``mean_diff_f1``).
    """
    rows = []
    for task, grp in per_fold.groupby("task", sort=False):
        ref = grp[grp["classifier"] == reference].set_index("fold")[metric]
        if ref.empty:
            continue
        for clf in grp["classifier"].unique():
            if clf == reference:
                continue
            other = grp[grp["classifier"] == clf].set_index("fold")[metric]
            common = ref.index.intersection(other.index)
            if common.empty:
                continue
            diff = 100.0 * (ref.loc[common].to_numpy(float) - other.loc[common].to_numpy(float))
            rows.append(
                {
                    "task": task,
                    "classifier": clf,
                    "vs": reference,
                    "n_folds": int(len(common)),
                    "mean_diff_f1": float(diff.mean()),
                    "p_wilcoxon": wilcoxon_p(diff),
                    "p_permutation": permutation_p(diff, n_resamples=n_resamples, seed=seed),
                }
            )
    return sort_results(pd.DataFrame(rows, columns=list(SIGNIFICANCE_COLUMNS)))
