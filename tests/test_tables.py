"""Tables 1-3: shapes, paper values joined, significance marks, CSV/Markdown writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectflow import registry
from affectflow.evaluation.metrics import CLASSIFIERS, fold_metrics, per_fold_table, summary_table
from affectflow.evaluation.significance import significance_table
from affectflow.evaluation.tables import (
    N_SELECTED_ROW,
    SYNTHETIC_CORPUS,
    SYNTHETIC_NOTE,
    format_for_terminal,
    load_paper_results,
    load_paper_table1,
    table1,
    table2,
    table3,
    to_markdown,
    write_table,
)
from affectflow.features.groups import GROUPS

#: The paper's classifiers (the context ablations of Table 4 have no paper values).
PAPER_CLASSIFIERS = [c for c in CLASSIFIERS if registry.classifier(c).paper_tables]
TASK_CLASSIFIERS = {
    "valence3": PAPER_CLASSIFIERS,
    "activation3": PAPER_CLASSIFIERS,
    "clusters3": ["hmm_vf", "hmm_lm_vf", "svm_vf", "lstm_vf", "blstm_vf"],
    "clusters4": ["hmm_vf", "hmm_lm_vf", "svm_vf", "lstm_vf", "blstm_vf"],
    "clusters5": ["hmm_vf", "hmm_lm_vf", "svm_vf", "lstm_vf", "blstm_vf"],
}
N = {"valence3": 3, "activation3": 3, "clusters3": 3, "clusters4": 4, "clusters5": 5}
FOLDS = [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]


@pytest.fixture(scope="module")
def results() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    records = []
    for task, clfs in TASK_CLASSIFIERS.items():
        for k, clf in enumerate(clfs):
            for fold in FOLDS:
                y = rng.integers(0, N[task], 60)
                hit = 0.4 + 0.08 * k  # later classifiers (BLSTM last) are better
                p = np.where(rng.random(60) < hit, y, rng.integers(0, N[task], 60))
                records.append(
                    {"task": task, "classifier": clf, "fold": fold, **fold_metrics(y, p, N[task])}
                )
    per_fold = per_fold_table(records)
    return per_fold, summary_table(per_fold), significance_table(per_fold)


def test_paper_results_are_complete() -> None:
    paper = load_paper_results()
    assert list(paper.columns) == ["task", "classifier", "features", "acc", "rec", "prec", "f1"]
    assert len(paper) == sum(len(c) for c in TASK_CLASSIFIERS.values())
    best = paper[paper["classifier"] == "blstm_vf"].set_index("task")["f1"]
    assert best.to_dict() == {
        "valence3": 65.18,
        "activation3": 55.18,
        "clusters3": 72.34,
        "clusters4": 62.78,
        "clusters5": 54.84,
    }
    table1_paper = load_paper_table1()
    assert len(table1_paper) == 30
    sums = table1_paper.groupby("task")["percent"].sum()
    assert (sums == 100).all()


def _numbers(cells: pd.Series) -> np.ndarray:
    return np.array([float(c.split(" ± ")[0]) for c in cells])


def test_table2_and_table3_shapes_and_paper_join(results) -> None:
    _, summary, sig = results
    paper = load_paper_results()
    t2 = table2(summary, sig, paper)
    t3 = table3(summary, sig, paper)
    assert len(t2) == 14 and len(t3) == 15
    assert list(t2["task"].unique()) == ["valence", "activation"]
    assert list(t3["task"].unique()) == ["3 clusters", "4 clusters", "5 clusters"]
    assert list(t2.columns[:4]) == ["task", "classifier", "features", "n folds"]
    for col in ("ACC", "REC", "PREC", "F1"):
        assert col in t2 and f"{col} (paper)" in t2
        values = _numbers(pd.concat([t2[col], t3[col]]))
        assert ((values >= 0) & (values <= 100)).all()
        assert all(" ± " in c for c in t2[col])
    first = t2.iloc[0]
    assert (first["classifier"], first["features"]) == ("HMM", "v")
    assert first["ACC (paper)"] == "47.08" and first["F1 (paper)"] == "47.62"
    blstm = t3[(t3["task"] == "5 clusters") & (t3["classifier"] == "BLSTM")].iloc[0]
    assert blstm["F1 (paper)"] == "54.84" and blstm["REC (paper)"] == "53.76"
    assert blstm["sig."] == "ref." and blstm["p"] == "–"
    # Our means join the right summary rows.
    row = summary[(summary["task"] == "valence3") & (summary["classifier"] == "hmm_v")].iloc[0]
    assert first["F1"] == f"{row['f1_mean']:.2f} ± {row['f1_std']:.2f}"


def test_significance_marks(results) -> None:
    _, summary, sig = results
    t2 = table2(summary, sig)
    hmm_v = t2[(t2["task"] == "valence") & (t2["classifier"] == "HMM")].iloc[0]
    # BLSTM was planted much better than the first HMM on every fold.
    assert hmm_v["sig."] == "†" and float(hmm_v["p"]) < 0.05
    assert "†" in t2.attrs["legend"] and "p < 0.05" in t2.attrs["legend"]
    assert "F1 (paper)" not in t2


def test_table1_shares(results) -> None:
    selections = {
        ("Ses01F", "valence3"): ["pitch__mean", "mfcc_1__std", "CH1_x__max", "FH1_y_d__mean"],
        ("Ses01M", "valence3"): ["energy__mean", "CH1_x__max"],
        ("Ses01F", "activation3"): ["mfb_3__mean", "mfb_4_d__iqr1-2"],
    }
    t1 = table1(selections, load_paper_table1())
    assert list(t1["feature group"]) == [*GROUPS, N_SELECTED_ROW]
    assert list(t1.columns) == ["feature group", "VAL", "VAL (paper)", "ACT", "ACT (paper)"]
    val = t1.set_index("feature group")["VAL"]
    # fold 1: pitch, MFCC, lower, upper = 25 % each; fold 2: energy, lower = 50 % each.
    assert val["pitch"] == 12.5 and val["energy"] == 25.0 and val["lower face"] == 37.5
    assert val[list(GROUPS)].sum() == pytest.approx(100)
    assert val[N_SELECTED_ROW] == 3.0
    act = t1.set_index("feature group")["ACT"]
    assert act["MFB"] == 100.0
    assert t1.set_index("feature group").loc["lower face", "VAL (paper)"] == 63


def test_writers(tmp_path: Path, results) -> None:
    _, summary, sig = results
    t2 = table2(summary, sig, load_paper_results())
    csv, md = tmp_path / "t2.csv", tmp_path / "t2.md"
    write_table(t2, csv, md, "Table 2", SYNTHETIC_NOTE, corpus=SYNTHETIC_CORPUS)
    back = pd.read_csv(csv)
    assert len(back) == len(t2)
    assert (back["corpus"] == SYNTHETIC_CORPUS).all()
    text = md.read_text()
    lines = text.splitlines()
    assert lines[0] == "# Table 2"
    assert SYNTHETIC_NOTE in lines[2]
    assert sum(line.startswith("| ") for line in lines) == len(t2) + 2  # header, rule, rows
    assert "†:" in text
    # Repeated task labels are blanked like the paper's grouped rows.
    assert sum(line.startswith("| valence |") for line in lines) == 1
    with pytest.raises(ValueError, match="note"):
        write_table(t2, csv, md, "Table 2", " ", corpus=SYNTHETIC_CORPUS)

    out = format_for_terminal(t2, "Table 2", SYNTHETIC_NOTE)
    assert out.splitlines()[2] == SYNTHETIC_NOTE
    assert "BLSTM" in out and "±" in out


def test_markdown_escapes_pipes() -> None:
    md = to_markdown(pd.DataFrame({"a": ["x|y"], "b": [1.5]}))
    assert "x\\|y" in md
    assert md.splitlines()[1] == "| --- | ---: |"


def test_training_legend_names_the_families_that_hold_out_the_validation_speaker() -> None:
    from affectflow.evaluation.tables import training_legend

    text = training_legend(["svm_vf", "blstm_vf", "lstm_vf", "blstm_vf_noctx"])
    assert "BLSTM and LSTM train on" in text and "except the validation speaker" in text
    assert training_legend(["svm_vf", "hmm_vf", "hmm_lm_vf"]) == ""
