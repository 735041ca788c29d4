"""Table 4 (the context gain) and the mark of cells whose training reached max_epochs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectflow.evaluation.context import NO_CONTEXT, table4
from affectflow.evaluation.metrics import fold_metrics, per_fold_table, summary_table
from affectflow.evaluation.significance import permutation_p
from affectflow.evaluation.tables import CAPPED_MARK, table2, to_markdown

FOLDS = [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]


def _records(task: str, clf: str, hit: float, rng: np.random.Generator,
             capped_folds: int = 0) -> list[dict]:
    out = []
    for i, fold in enumerate(FOLDS):
        y = rng.integers(0, 3, 80)
        p = np.where(rng.random(80) < hit, y, rng.integers(0, 3, 80))
        out.append({"task": task, "classifier": clf, "fold": fold, **fold_metrics(y, p, 3),
                    "capped": i < capped_folds})
    return out


@pytest.fixture(scope="module")
def per_fold() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    records = []
    for clf, hit in (("blstm_vf", 0.8), ("lstm_vf", 0.7), (NO_CONTEXT, 0.4), ("svm_vf", 0.5)):
        records += _records("valence3", clf, hit, rng, capped_folds=2 if clf == "lstm_vf" else 0)
    records += _records("activation3", "blstm_vf", 0.6, rng)  # no ablation for this task
    return per_fold_table(records)


def test_table4_compares_every_context_model_with_the_no_context_blstm(per_fold) -> None:
    t4 = table4(per_fold)
    assert list(t4["task"]) == ["valence"] * 3  # activation has no blstm_vf_noctx: no rows
    assert [c.split()[0] for c in t4["classifier"]] == ["blstm_vf", "lstm_vf", NO_CONTEXT]
    rows = t4.set_index(t4["classifier"].str.split().str[0])
    assert rows.loc[NO_CONTEXT, "ΔF1 vs no context"] == "ref."
    # the difference is recomputed from the per-fold F1 of both, paired by fold
    sub = per_fold[per_fold["task"] == "valence3"].pivot(index="fold", columns="classifier",
                                                          values="f1")
    diff = 100 * (sub["blstm_vf"] - sub[NO_CONTEXT]).to_numpy()
    expected = f"{diff.mean():.2f} ± {diff.std(ddof=1):.2f}"
    assert rows.loc["blstm_vf", "ΔF1 vs no context"] == expected
    assert float(rows.loc["blstm_vf", "p"]) == pytest.approx(permutation_p(diff), abs=5e-4)
    assert float(rows.loc["blstm_vf", "p"]) < 0.01  # 10 folds, all clearly better
    f1 = 100 * per_fold.query("task == 'valence3' and classifier == 'blstm_vf'")["f1"]
    assert rows.loc["blstm_vf", "F1"].startswith(f"{f1.mean():.2f} ± ")
    assert "svm_vf" not in set(rows.index)


def test_capped_folds_are_marked_with_a_footnote(per_fold) -> None:
    t4 = table4(per_fold)
    assert t4["classifier"].tolist()[1] == f"lstm_vf {CAPPED_MARK}"
    assert "valence lstm_vf (2 of 10 folds)" in t4.attrs["legend"]
    summary = summary_table(per_fold)
    assert int(summary.set_index("classifier").loc["lstm_vf", "n_capped"]) == 2
    t2 = table2(summary)
    marked = t2[t2["classifier"].str.endswith(CAPPED_MARK)]
    assert marked["classifier"].tolist() == [f"LSTM {CAPPED_MARK}"]
    assert f"{CAPPED_MARK}: training reached max_epochs" in t2.attrs["legend"]
    assert CAPPED_MARK not in "".join(t2[t2["classifier"] == "BLSTM"]["classifier"])


def test_no_ablation_gives_an_empty_table(per_fold) -> None:
    t4 = table4(per_fold[per_fold["classifier"] != NO_CONTEXT])
    assert t4.empty
    assert to_markdown(t4)  # still writable
