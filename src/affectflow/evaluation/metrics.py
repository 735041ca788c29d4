"""Per-fold recognition metrics of the paper (section 4) and their summary over folds.

For each fold: accuracy, unweighted (macro) recall UAR, unweighted precision UAP, the paper's
F1 = 2 UAP UAR / (UAP + UAR) (the harmonic mean of the two unweighted averages, *not* the mean
of per-class F1 values), and, for comparison with later literature, scikit-learn's
support-weighted F1. The confusion matrix has true classes in rows, predictions in columns.

Classes absent from a test fold (a speaker may never show, say, high activation):

- recall is averaged over the classes present in ``y_true`` (the recall of an absent class is
  undefined, 0/0, and is left out);
- precision is averaged over the classes that are present in ``y_true`` *or* predicted: a class
  present but never predicted has precision 0 (it was missed entirely), a class predicted but
  absent has precision 0 (every such prediction is wrong), a class neither present nor
  predicted is left out;
- F1 is 0 when UAP + UAR is 0; weighted F1 weights by true support, so absent classes weigh 0.

When every class is present and predicted this equals scikit-learn's ``average="macro"``.
No mean ever contains a NaN; the per-class lists hold NaN only for the classes left out.
``n_classes_present`` records how many classes the fold's ``y_true`` holds. An empty test fold
is an error (ValueError), not a metric.

Per-fold tables keep fractions (0..1); the summary over folds is in percent (0..100) like the
paper's tables, with the sample standard deviation (ddof = 1; NaN for a single fold).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from affectflow import registry

#: The paper's five tasks and their number of classes (from :mod:`affectflow.registry`).
N_CLASSES: dict[str, int] = {name: t.n_classes for name, t in registry.TASK_RECORDS.items()}
TASKS: tuple[str, ...] = registry.TASKS
#: Cross-validated classifier id -> (display name, features) as in the paper's Tables 2 and 3.
CLASSIFIERS: dict[str, tuple[str, str]] = {
    name: (registry.classifier(name).display, registry.classifier(name).features)
    for name in registry.CLASSIFIERS
}
METRICS: tuple[str, ...] = ("acc", "uar", "uap", "f1", "wf1")
PER_FOLD_COLUMNS: tuple[str, ...] = (
    "task",
    "classifier",
    "fold",
    *METRICS,
    "n_test",
    "n_classes_present",
    "confusion",
    "capped",
)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``n_classes x n_classes`` counts, rows = true class, columns = predicted class."""
    idx = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _check_labels(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer class ids")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} holds class ids outside 0..{n_classes - 1}")
    return arr


def fold_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Metrics of one test fold (fractions; see the module docstring for absent classes).

    Returns ``acc, uar, uap, f1, wf1`` (floats), ``n_test``, ``n_classes_present``,
    ``confusion`` (``n_classes x n_classes`` int array, rows = true) and the per-class
    ``recall`` and ``precision`` arrays (NaN for the classes left out of the means).
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    t = _check_labels(y_true, n_classes, "y_true")
    p = _check_labels(y_pred, n_classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    if t.size == 0:
        raise ValueError("empty test fold: no metrics can be computed")

    cm = confusion_matrix(t, p, n_classes)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)  # true count per class
    predicted = cm.sum(axis=0)  # predicted count per class
    present = support > 0
    in_precision = present | (predicted > 0)

    recall = np.full(n_classes, np.nan)
    recall[present] = tp[present] / support[present]
    precision = np.full(n_classes, np.nan)
    has_pred = predicted > 0
    precision[has_pred] = tp[has_pred] / predicted[has_pred]
    precision[in_precision & ~has_pred] = 0.0  # present but never predicted

    uar = float(recall[present].mean())
    uap = float(precision[in_precision].mean())
    f1 = 2.0 * uap * uar / (uap + uar) if uap + uar > 0 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wf1 = float(
            f1_score(t, p, labels=np.arange(n_classes), average="weighted", zero_division=0)
        )
    return {
        "acc": float(tp.sum() / t.size),
        "uar": uar,
        "uap": uap,
        "f1": float(f1),
        "wf1": wf1,
        "n_test": int(t.size),
        "n_classes_present": int(present.sum()),
        "confusion": cm,
        "recall": recall,
        "precision": precision,
    }


def prediction_metrics(predictions: pd.DataFrame, n_classes: int) -> dict[str, Any]:
    """:func:`fold_metrics` of a predictions table (columns ``y_true``, ``y_pred``)."""
    return fold_metrics(
        predictions["y_true"].to_numpy(), predictions["y_pred"].to_numpy(), n_classes
    )


def _order(values: Iterable[str], known: Iterable[str]) -> list[str]:
    """``values`` in the order of ``known``, unknown ones after them, sorted."""
    seen = list(dict.fromkeys(values))
    known = list(known)
    return [v for v in known if v in seen] + sorted(v for v in seen if v not in known)


def sort_results(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in the paper's task and classifier order (then by fold where there is one)."""
    keys = [c for c in ("task", "classifier", "fold") if c in df.columns]
    out = df.copy()
    ranks = {}
    if "task" in out:
        order = _order(out["task"], TASKS)
        ranks["task"] = out["task"].map({v: i for i, v in enumerate(order)})
    if "classifier" in out:
        order = _order(out["classifier"], CLASSIFIERS)
        ranks["classifier"] = out["classifier"].map({v: i for i, v in enumerate(order)})
    sort_frame = pd.DataFrame({k: ranks.get(k, out[k]) for k in keys}, index=out.index)
    index = sort_frame.sort_values(keys, kind="stable").index
    return out.loc[index].reset_index(drop=True)


def per_fold_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (task, classifier, fold): metrics as fractions, confusion as a JSON string.

    Each record holds ``task``, ``classifier``, ``fold`` and the keys of :func:`fold_metrics`
    (extra keys such as the per-class arrays are dropped), and may hold ``capped`` (training
    reached ``max_epochs`` without early stopping; default False).
    """
    rows = []
    for rec in records:
        rec = {"capped": False, **rec}
        missing = [c for c in PER_FOLD_COLUMNS if c not in rec]
        if missing:
            raise ValueError(f"record lacks {missing}")
        row = {c: rec[c] for c in PER_FOLD_COLUMNS}
        cm = np.asarray(rec["confusion"], dtype=np.int64)
        row["confusion"] = json.dumps(cm.tolist())
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(PER_FOLD_COLUMNS))
    df = df.astype({m: float for m in METRICS}
                   | {"n_test": int, "n_classes_present": int, "capped": bool})
    if df.duplicated(["task", "classifier", "fold"]).any():
        raise ValueError("duplicate (task, classifier, fold) records")
    return sort_results(df)


def confusion_of(row: Mapping[str, Any] | pd.Series) -> np.ndarray:
    """The confusion matrix of a per-fold row (JSON string or nested list)."""
    value = row["confusion"]
    if isinstance(value, str):
        value = json.loads(value)
    return np.asarray(value, dtype=np.int64)


def summed_confusions(per_fold: pd.DataFrame, task: str) -> dict[str, np.ndarray]:
    """Classifier -> confusion matrix of ``task`` summed over its folds (paper order)."""
    sub = sort_results(per_fold[per_fold["task"] == task])
    out: dict[str, np.ndarray] = {}
    for _, row in sub.iterrows():
        cm = confusion_of(row)
        out[row["classifier"]] = out[row["classifier"]] + cm if row["classifier"] in out else cm
    return out


def summary_table(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over folds per task x classifier, in percent.

    Columns: ``task, classifier, n_folds, n_test`` (summed), ``n_capped`` (folds whose
    training reached ``max_epochs`` without early stopping) and ``<metric>_mean``,
    ``<metric>_std`` for acc, uar, uap, f1, wf1.
    """
    rows = []
    for (task, clf), grp in per_fold.groupby(["task", "classifier"], sort=False):
        row: dict[str, Any] = {
            "task": task,
            "classifier": clf,
            "n_folds": int(len(grp)),
            "n_test": int(grp["n_test"].sum()),
            "n_capped": int(grp["capped"].sum()) if "capped" in grp else 0,
        }
        for m in METRICS:
            values = 100.0 * grp[m].to_numpy(dtype=float)
            row[f"{m}_mean"] = float(values.mean())
            row[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        rows.append(row)
    columns = ["task", "classifier", "n_folds", "n_test", "n_capped"]
    columns += [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    return sort_results(pd.DataFrame(rows, columns=columns))
