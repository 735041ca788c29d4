"""The context ablation and the convergence marks in the shared tiny end-to-end run.

The tiny run trains the (B)LSTMs for at most 15 epochs (patience 5, the paper's SGD at 1e-5),
so some fits reach the cap: those must be warned about in the job log, recorded in the
predictions' metadata and marked in the tables; the others must not be.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from affectflow import io, registry
from affectflow.evaluation.context import NO_CONTEXT
from affectflow.evaluation.tables import CAPPED_MARK, SYNTHETIC_CORPUS
from tests.conftest import run_config

pytestmark = pytest.mark.e2e

EPOCH_TRAINED = ("lstm_vf", "blstm_vf", NO_CONTEXT)


def _predictions(run: Path, task: str, classifier: str) -> dict[str, Path]:
    base = run / "results" / "models" / task / classifier
    return {p.parent.name: p for p in sorted(base.glob("*/predictions.parquet"))}


def test_no_context_blstm_runs_on_the_same_utterances_as_the_blstm(tiny_run: Path) -> None:
    tasks = [t for t, cs in run_config(tiny_run)["tasks"].items() if NO_CONTEXT in cs]
    assert tasks
    for task in tasks:
        ctx, noctx = _predictions(tiny_run, task, "blstm_vf"), _predictions(tiny_run, task,
                                                                            NO_CONTEXT)
        assert list(noctx) == list(ctx) and len(ctx) == 10
        for fold in ctx:
            a, b = io.read_parquet_metadata(ctx[fold]), io.read_parquet_metadata(noctx[fold])
            assert a["train_ids"] == b["train_ids"]
            assert a["validation_ids"] == b["validation_ids"]
            pa, pb = pd.read_parquet(ctx[fold]), pd.read_parquet(noctx[fold])
            assert pa["utt_id"].tolist() == pb["utt_id"].tolist()


def test_table4_lists_the_context_gain(tiny_run: Path) -> None:
    t4 = pd.read_csv(tiny_run / "results/tables/table4.csv")
    config = run_config(tiny_run)
    expected = [registry.task(t).label for t, cs in config["tasks"].items() if NO_CONTEXT in cs]
    assert sorted(set(t4["task"])) == sorted(expected)
    ids = t4["classifier"].str.split().str[0]
    assert set(ids) == {"blstm_vf", "lstm_vf", NO_CONTEXT}
    assert (t4.loc[ids == NO_CONTEXT, "ΔF1 vs no context"] == "ref.").all()
    assert t4.loc[ids != NO_CONTEXT, "p"].between(0, 1).all()
    assert (t4["corpus"] == SYNTHETIC_CORPUS).all()
    md = (tiny_run / "results/tables/table4.md").read_text()
    assert "synthetic" in md.lower() and "ΔF1 vs no context" in md


def test_capped_training_is_warned_recorded_and_marked(tiny_run: Path) -> None:
    config = run_config(tiny_run)
    capped_rows: set[tuple[str, str]] = set()
    n_capped = n_fits = 0
    for task, classifiers in config["tasks"].items():
        for clf in (c for c in classifiers if c in EPOCH_TRAINED):
            for fold, path in _predictions(tiny_run, task, clf).items():
                meta = io.read_parquet_metadata(path)
                net = registry.classifier(clf).family
                assert meta["max_epochs"] == config["models"][net]["max_epochs"]
                capped = meta["best_epoch"] > meta["max_epochs"] - meta["patience"]
                assert meta["reached_max_epochs"] is capped
                log = (tiny_run / "logs" / "models" / clf / f"{fold}.log").read_text()
                name = registry.classifier(clf).display
                warned = f"WARNING: {name} {task}: training reached max_epochs" in log
                assert warned is capped, (clf, task, fold)
                n_fits += 1
                n_capped += capped
                if capped:
                    capped_rows.add((registry.task(task).label, name))
    assert n_fits and 0 < n_capped  # 15 epochs of SGD at 1e-5: some fits hit the cap
    marked = set()
    for table in ("table2", "table3"):
        df = pd.read_csv(tiny_run / f"results/tables/{table}.csv")
        df["task"] = df["task"].ffill()
        for row in df.itertuples():
            if str(row.classifier).endswith(CAPPED_MARK):
                marked.add((row.task, row.classifier.removesuffix(CAPPED_MARK).strip()))
    assert marked == capped_rows
    assert f"{CAPPED_MARK}: training reached max_epochs" in (
        tiny_run / "results/tables/table2.md").read_text()
