"""Per-fold metrics against scikit-learn and hand-computed values; summary over folds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from affectflow.evaluation.metrics import (
    fold_metrics,
    per_fold_table,
    prediction_metrics,
    summary_table,
    summed_confusions,
)


@pytest.mark.parametrize("n_classes", [3, 4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_when_all_classes_present_and_predicted(n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, 300)
    # Correct 60 % of the time, otherwise random: every class present and predicted.
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, n_classes, 300))
    assert set(y_true) == set(y_pred) == set(range(n_classes))

    m = fold_metrics(y_true, y_pred, n_classes)

    assert m["acc"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["uar"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    assert m["uap"] == pytest.approx(precision_score(y_true, y_pred, average="macro"))
    assert m["wf1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert m["f1"] == pytest.approx(2 * m["uap"] * m["uar"] / (m["uap"] + m["uar"]))
    assert m["n_test"] == 300
    assert m["n_classes_present"] == n_classes
    cm = m["confusion"]
    assert cm.shape == (n_classes, n_classes)
    assert cm.sum() == 300
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=n_classes))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(y_pred, minlength=n_classes))


def test_paper_f1_on_a_worked_example() -> None:
    # 3 classes, 10 test utterances.
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    # Confusion (rows true): [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    # recall:    0: 3/4,  1: 2/3,  2: 2/3          -> UAR = (3/4 + 2/3 + 2/3) / 3 = 25/36
    # precision: 0: 3/4 (3 of 4 predicted 0), 1: 2/3, 2: 2/3  -> UAP = 25/36 as well
    # accuracy = 7/10; paper F1 = 2 * UAP * UAR / (UAP + UAR) = 25/36
    m = fold_metrics(y_true, y_pred, 3)
    np.testing.assert_array_equal(m["confusion"], [[3, 1, 0], [0, 2, 1], [1, 0, 2]])
    assert m["acc"] == pytest.approx(0.7)
    assert m["uar"] == pytest.approx(25 / 36)
    assert m["uap"] == pytest.approx(25 / 36)
    assert m["f1"] == pytest.approx(25 / 36)


def test_paper_f1_is_not_the_mean_of_per_class_f1() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 0, 0, 1, 1])
    # Confusion [[2, 0], [2, 2]]: recall 2/2 = 1 and 2/4 = 1/2 -> UAR = 3/4;
    # precision 2/4 = 1/2 and 2/2 = 1                         -> UAP = 3/4;
    # paper F1 = 2 * 3/4 * 3/4 / (3/4 + 3/4) = 3/4.
    # Per-class F1: 2 * (1/2 * 1) / (3/2) = 2/3 for both -> their mean (sklearn macro) is 2/3.
    m = fold_metrics(y_true, y_pred, 2)
    assert m["uar"] == pytest.approx(0.75)
    assert m["uap"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    assert f1_score(y_true, y_pred, average="macro") == pytest.approx(2 / 3)


def test_absent_classes_follow_the_documented_policy() -> None:
    # 4 classes; class 3 neither present nor predicted; class 2 predicted but absent;
    # class 1 present but never predicted.
    y_true = np.array([0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 2, 0, 0])
    # cm rows true: 0 -> [2, 0, 1, 0], 1 -> [2, 0, 0, 0]
    # recall over present classes {0, 1}: 2/3, 0      -> UAR = 1/3
    # precision over present-or-predicted {0, 1, 2}: 0: 2/4, 1: 0 (never predicted),
    #   2: 0/1 = 0                                    -> UAP = (1/2) / 3 = 1/6
    # F1 = 2 * 1/6 * 1/3 / (1/6 + 1/3) = (1/9) / (1/2) = 2/9
    m = fold_metrics(y_true, y_pred, 4)
    assert m["n_classes_present"] == 2
    assert m["uar"] == pytest.approx(1 / 3)
    assert m["uap"] == pytest.approx(1 / 6)
    assert m["f1"] == pytest.approx(2 / 9)
    assert m["acc"] == pytest.approx(2 / 5)
    for key in ("acc", "uar", "uap", "f1", "wf1"):
        assert np.isfinite(m[key])
    assert np.isnan(m["recall"][2]) and np.isnan(m["recall"][3])
    assert np.isnan(m["precision"][3])
    assert m["precision"][1] == 0.0 and m["precision"][2] == 0.0


def test_single_class_fold_and_all_wrong_fold_give_finite_values() -> None:
    m = fold_metrics(np.array([1, 1, 1]), np.array([1, 1, 1]), 3)
    assert (m["acc"], m["uar"], m["uap"], m["f1"], m["n_classes_present"]) == (1, 1, 1, 1, 1)
    m = fold_metrics(np.array([0, 0]), np.array([2, 2]), 3)
    assert (m["acc"], m["uar"], m["uap"], m["f1"]) == (0.0, 0.0, 0.0, 0.0)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        fold_metrics(np.array([], int), np.array([], int), 3)
    with pytest.raises(ValueError, match="outside"):
        fold_metrics(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="length"):
        fold_metrics(np.array([0, 1]), np.array([0]), 3)


def _records() -> list[dict]:
    rng = np.random.default_rng(0)
    records = []
    for task, n_classes in (("valence3", 3), ("clusters4", 4)):
        for clf in ("blstm_vf", "svm_vf"):
            for fold in ("Ses01M", "Ses01F", "Ses02F"):
                y = rng.integers(0, n_classes, 50)
                p = np.where(rng.random(50) < 0.7, y, rng.integers(0, n_classes, 50))
                records.append(
                    {"task": task, "classifier": clf, "fold": fold, **fold_metrics(y, p, n_classes)}
                )
    return records


def test_per_fold_and_summary_tables() -> None:
    records = _records()
    per_fold = per_fold_table(records)
    assert len(per_fold) == 12
    # Paper order: svm before blstm; folds sorted.
    assert per_fold["classifier"].iloc[0] == "svm_vf"
    assert list(per_fold["fold"].iloc[:3]) == ["Ses01F", "Ses01M", "Ses02F"]
    assert per_fold["f1"].between(0, 1).all()
    cm = np.array(json.loads(per_fold["confusion"].iloc[0]))
    assert cm.sum() == per_fold["n_test"].iloc[0] == 50

    summary = summary_table(per_fold)
    assert len(summary) == 4
    row = summary[(summary["task"] == "valence3") & (summary["classifier"] == "svm_vf")].iloc[0]
    folds = per_fold[(per_fold["task"] == "valence3") & (per_fold["classifier"] == "svm_vf")]
    assert row["n_folds"] == 3
    assert row["f1_mean"] == pytest.approx(100 * folds["f1"].mean())
    assert row["f1_std"] == pytest.approx(100 * folds["f1"].std(ddof=1))
    for col in ("acc_mean", "uar_mean", "uap_mean", "f1_mean", "wf1_mean"):
        assert summary[col].between(0, 100).all()

    summed = summed_confusions(per_fold, "clusters4")
    assert list(summed) == ["svm_vf", "blstm_vf"]
    assert summed["svm_vf"].shape == (4, 4) and summed["svm_vf"].sum() == 150


def test_per_fold_rejects_duplicates_and_predictions_helper() -> None:
    records = _records()
    with pytest.raises(ValueError, match="duplicate"):
        per_fold_table([*records, records[0]])
    pred = pd.DataFrame({"y_true": [0, 1, 2, 2], "y_pred": [0, 1, 2, 1]})
    assert prediction_metrics(pred, 3)["acc"] == pytest.approx(0.75)
