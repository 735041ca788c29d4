"""Paired significance tests of BLSTM against the other classifiers on planted differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectflow.evaluation.significance import permutation_p, significance_table, wilcoxon_p

FOLDS = [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]


def _per_fold(scores: dict[str, np.ndarray], task: str = "valence3") -> pd.DataFrame:
    rows = [
        {"task": task, "classifier": clf, "fold": fold, "f1": float(v)}
        for clf, values in scores.items()
        for fold, v in zip(FOLDS, values, strict=True)
    ]
    return pd.DataFrame(rows)


def test_clearly_better_blstm_is_significant_with_both_tests() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.4, 0.6, 10)
    per_fold = _per_fold(
        {"blstm_vf": base + rng.uniform(0.03, 0.08, 10), "svm_vf": base, "lstm_vf": base + 0.001}
    )
    table = significance_table(per_fold)
    assert list(table["classifier"]) == ["svm_vf", "lstm_vf"]
    svm = table.iloc[0]
    assert svm["vs"] == "blstm_vf" and svm["n_folds"] == 10
    assert svm["mean_diff_f1"] > 3
    # All 10 differences positive: both exact two-sided p-values are 2 / 2**10.
    assert svm["p_wilcoxon"] == pytest.approx(2 / 1024)
    assert svm["p_permutation"] == pytest.approx(2 / 1024)
    assert svm["p_wilcoxon"] < 0.05 and svm["p_permutation"] < 0.05


def test_identical_scores_give_p_one() -> None:
    base = np.linspace(0.4, 0.7, 10)
    table = significance_table(_per_fold({"blstm_vf": base, "hmm_vf": base.copy()}))
    row = table.iloc[0]
    assert row["mean_diff_f1"] == 0
    assert row["p_wilcoxon"] == 1.0
    assert row["p_permutation"] == 1.0


def test_noise_is_not_significant_and_sign_is_kept() -> None:
    diff = np.array([0.5, -0.4, 0.3, -0.6, 0.2, -0.1, 0.4, -0.3, 0.1, -0.2])
    assert permutation_p(diff) > 0.5
    assert wilcoxon_p(diff) > 0.5
    # BLSTM worse on every fold: significant, negative mean difference.
    base = np.linspace(0.4, 0.7, 10)
    table = significance_table(_per_fold({"blstm_vf": base, "svm_vf": base + 0.05}))
    assert table.iloc[0]["mean_diff_f1"] == pytest.approx(-5)
    assert table.iloc[0]["p_permutation"] < 0.05


def test_permutation_exact_value_and_monte_carlo() -> None:
    # n = 3, d = (1, 2, 3): |sum| = 6 is reached only by all-plus and all-minus -> p = 2/8.
    assert permutation_p(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)
    # d = (1, 1, -1): |sum| = 1; flips give |sum| in {3, 1, 1, 1, 1, 1, 1, 3} -> p = 1
    assert permutation_p(np.array([1.0, 1.0, -1.0])) == pytest.approx(1.0)
    # 20 folds, all positive: exact p = 2 / 2**20, so the Monte-Carlo estimate
    # (k + 1) / (B + 1) is 1 / 2001 unless a draw hits an all-same-sign pattern.
    p = permutation_p(np.full(20, 0.05), n_resamples=2000, seed=1)
    assert p == pytest.approx(1 / 2001, abs=2 / 2001)
    assert p == permutation_p(np.full(20, 0.05), n_resamples=2000, seed=1)


def test_only_common_folds_and_tasks_without_blstm() -> None:
    base = np.linspace(0.4, 0.7, 10)
    per_fold = _per_fold({"blstm_vf": base + 0.1, "svm_vf": base})
    per_fold = per_fold.drop(per_fold.index[-1])  # svm lacks the last fold
    other_task = _per_fold({"svm_vf": base}, task="activation3")
    table = significance_table(pd.concat([per_fold, other_task]))
    assert len(table) == 1
    assert table.iloc[0]["n_folds"] == 9
