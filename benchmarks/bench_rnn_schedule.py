"""Which optimiser and update schedule lets the (B)LSTM stop early? A study on validation
speakers only.

For every LOSO fold of a finished run (its CFS-selected functionals, labels and fold split) and
each candidate schedule, the BLSTM (and the BLSTM without context) is trained on the fold's
training speakers exactly as the workflow trains it (``affectflow.models.fitting.fit_model``),
with early stopping on the fold's validation speaker. Only training and validation utterances
are read: the test speaker's rows are dropped before anything is fitted, so the choice of the
default cannot have seen a test fold. Recorded per (candidate, task, classifier, fold): the best
epoch, whether training stopped by the patience rule (best epoch <= max_epochs - patience), the
best validation loss and UAR, the per-epoch validation loss, and the fit's CPU time.

Run: ``.venv/bin/python benchmarks/bench_rnn_schedule.py RUN_DIR`` (``RUN_DIR``: a workflow
directory whose ``results/folds/*/cfs`` are complete). The fits go to
``benchmarks/rnn_schedule_PRESET.jsonl`` (appended, so candidates can be run in several calls;
``--report-only`` rewrites the report from them) and the report to the block
``schedule-PRESET`` of ``benchmarks/rnn.md``. ``--jobs`` fits in parallel processes, one
thread each.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core per fit, before numpy and torch load

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from reporting import cpu_model, markers, replace_block  # noqa: E402

#: Candidate schedules (on top of the config's BLSTM block: hidden 128, noise 0.6, n_init 1).
CANDIDATES: dict[str, dict[str, object]] = {
    "paper: online SGD, lr 1e-5": {"optimizer": "sgd", "lr": 1e-5, "batch_size": 1},
    "online SGD, lr 1e-4": {"optimizer": "sgd", "lr": 1e-4, "batch_size": 1},
    "online Adam, lr 1e-4": {"optimizer": "adam", "lr": 1e-4, "batch_size": 1},
    "online Adam, lr 1e-3": {"optimizer": "adam", "lr": 1e-3, "batch_size": 1},
    "Adam, lr 1e-3, 4 conversations per update": {"optimizer": "adam", "lr": 1e-3,
                                                   "batch_size": 4},
    "Adam, lr 1e-3, 8 conversations per update": {"optimizer": "adam", "lr": 1e-3,
                                                   "batch_size": 8},
    "Adam, lr 3e-3, 8 conversations per update": {"optimizer": "adam", "lr": 3e-3,
                                                   "batch_size": 8},
}
CLASSIFIERS = ("blstm_vf", "blstm_vf_noctx")
TASKS = ("valence3", "activation3")
CURVE_EPOCHS = (1, 5, 10, 20, 50, 100, 150, 200, 300)


def fit_cell(args: tuple[str, str, str, str, str, dict, int]) -> dict:
    """One fit on a fold's training speakers, stopped on its validation speaker."""
    import torch

    from affectflow.fold_tables import FoldTables, functional_sets
    from affectflow.models.fitting import fit_model

    run, fold, task, classifier, candidate, settings, seed = args
    torch.set_num_threads(1)
    folds = Path(run) / "results" / "folds" / fold
    tables = FoldTables.read(folds / "functionals.parquet", folds / "labels.parquet")
    rows, X, _ = functional_sets(tables, folds / "cfs" / f"{task}.json", task)
    # never the test speaker: drop its rows before fitting (the fit only reads train and
    # validation, this makes it impossible)
    rows["test"], X["test"] = rows["test"].iloc[:0], X["test"][:0]
    start = time.process_time()
    fitted = fit_model(classifier, rows, X, task, settings, seed)
    cpu = time.process_time() - start
    history = fitted.model.history_
    best = int(fitted.model.best_epoch_)
    record = history[best - 1]
    return {"candidate": candidate, "task": task, "classifier": classifier, "fold": fold,
            "best_epoch": best, "epochs_run": len(history),
            "stopped_early": not fitted.reached_max_epochs,
            "valid_loss": record["valid_loss"], "valid_uar": record["valid_uar"],
            "curve": [h["valid_loss"] for h in history], "cpu_s": cpu}


def _curve_table(df: pd.DataFrame, max_epochs: int) -> list[str]:
    """Mean validation loss over cells at given epochs (a stopped fit keeps its last value)."""
    epochs = [e for e in CURVE_EPOCHS if e <= max_epochs]
    lines = ["| candidate | classifier | " + " | ".join(f"epoch {e}" for e in epochs) + " |",
             "|---|---|" + "---:|" * len(epochs)]
    for (cand, clf), grp in df.groupby(["candidate", "classifier"], sort=False):
        values = []
        for e in epochs:
            at = [c[min(e, len(c)) - 1] for c in grp["curve"]]
            values.append(f"{np.mean(at):.3f}")
        lines.append(f"| {cand} | {clf} | " + " | ".join(values) + " |")
    return lines


def report(df: pd.DataFrame, settings: dict, run: str, preset: str, jobs: int) -> str:
    max_epochs, patience = settings["max_epochs"], settings["patience"]
    tasks = list(dict.fromkeys(df["task"]))
    lines = [
        f"## Schedule study, preset `{preset}` (validation speakers only)",
        "",
        f"**Synthetic corpus (preset `{preset}`), not IEMOCAP**: these numbers test the workflow.",
        "",
        f"Generated by `benchmarks/bench_rnn_schedule.py` on {platform.machine()} "
        f"({cpu_model()}), CPython {platform.python_version()}, one thread per fit, {jobs} fits "
        f"at a time. Run: `{run}`. Folds: {', '.join(sorted(set(df['fold'])))}.",
        "",
        f"Each fit: the fold's training speakers, early stopping on its validation speaker "
        f"(patience {patience}, at most {max_epochs} epochs, hidden {settings['hidden']}, noise "
        f"{settings['noise_sigma']}, seed 0 for every candidate); the test speaker's rows are "
        "dropped before fitting. *Stopped early*: best epoch <= max_epochs - patience, i.e. the "
        "patience rule ended the training. *Would stop at 100*: share of cells whose best epoch "
        "is at most 80 (the workflow's max_epochs 100, patience 20) and whose validation loss "
        "did not improve in epochs 81-100.",
        "",
        "| candidate | classifier | cells | stopped early | would stop at 100 | median best "
        "epoch | max best epoch | mean best validation loss | mean validation UAR | mean CPU s "
        "per fit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (cand, clf), grp in df.groupby(["candidate", "classifier"], sort=False):
        at100 = [_stops_by(c, 100, patience) for c in grp["curve"]]
        lines.append(
            f"| {cand} | {clf} | {len(grp)} | {100 * grp['stopped_early'].mean():.0f} % | "
            f"{100 * np.mean(at100):.0f} % | {grp['best_epoch'].median():.0f} | "
            f"{grp['best_epoch'].max()} | {grp['valid_loss'].mean():.3f} | "
            f"{grp['valid_uar'].mean():.3f} | {grp['cpu_s'].mean():.1f} |")
    lines += ["", "Mean validation loss (cross-entropy per utterance) by epoch (a fit that "
              "stopped keeps its last value):", ""]
    lines += _curve_table(df, max_epochs)
    lines += ["", "Per task (stopped early / median best epoch / mean best validation loss):", ""]
    lines += ["| candidate | classifier | " + " | ".join(tasks) + " |",
              "|---|---|" + "---|" * len(tasks)]
    for (cand, clf), grp in df.groupby(["candidate", "classifier"], sort=False):
        cells = []
        for task in tasks:
            t = grp[grp["task"] == task]
            cells.append(f"{100 * t['stopped_early'].mean():.0f} % / "
                         f"{t['best_epoch'].median():.0f} / {t['valid_loss'].mean():.3f}"
                         if len(t) else "-")
        lines.append(f"| {cand} | {clf} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _stops_by(curve: list[float], max_epochs: int, patience: int) -> bool:
    """Would a fit with this validation-loss curve stop early under ``max_epochs``?"""
    head = curve[:max_epochs]
    best = int(np.argmin(head)) + 1
    return best <= max_epochs - patience


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="workflow directory with complete results/folds")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/rnn.md"),
                        help="report; the study's block for the run's preset is replaced")
    parser.add_argument("--records", type=Path, default=None,
                        help="JSON lines of the fits (default benchmarks/rnn_schedule_PRESET"
                        ".jsonl); new fits are appended, a cell fitted again replaces its line")
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--folds", type=int, default=None, help="first N folds only")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--classifiers", nargs="*", default=list(CLASSIFIERS))
    parser.add_argument("--only", nargs="*", default=None,
                        help="candidates whose name contains one of these words")
    parser.add_argument("--report-only", action="store_true",
                        help="write the report from the records, fit nothing")
    args = parser.parse_args()

    import yaml

    run = Path(args.run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    preset = (config["corpus"]["synthetic"]["preset"]
              if config["corpus"]["source"] == "synthetic" else config["corpus"]["source"])
    records_path = args.records or Path(f"benchmarks/rnn_schedule_{preset}.jsonl")
    base = {**config["models"]["blstm"], "max_epochs": args.max_epochs, "device": "cpu"}
    folds = sorted(p.name for p in (run / "results" / "folds").iterdir()
                   if p.name != "all" and (p / "functionals.parquet").exists())
    folds = folds[: args.folds] if args.folds else folds
    candidates = {k: v for k, v in CANDIDATES.items()
                  if not args.only or any(word in k for word in args.only)}
    cells = [(str(run), fold, task, clf, cand, {**base, **extra}, config["models"]["seed"])
             for cand, extra in candidates.items() for task in args.tasks
             for clf in args.classifiers for fold in folds]
    if args.report_only:
        cells = []
    with ProcessPoolExecutor(args.jobs) as pool, records_path.open("a") as out:
        # results are streamed (one JSON line per fit) so an interrupted study keeps them
        for done, record in enumerate(pool.map(fit_cell, cells), start=1):
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(f"[{done}/{len(cells)}] {record['candidate']} {record['task']} "
                  f"{record['classifier']} {record['fold']}: best epoch {record['best_epoch']}"
                  f", {record['cpu_s']:.0f} s", flush=True)
    key = ("candidate", "task", "classifier", "fold")
    latest = {tuple(r[k] for k in key): r for r in map(json.loads, records_path.open())}
    order = {name: i for i, name in enumerate(CANDIDATES)}
    df = pd.DataFrame(sorted(latest.values(), key=lambda r: (
        order.get(r["candidate"], len(order)), r["classifier"], r["task"], r["fold"])))
    name = f"schedule-{preset}"
    start, end = markers(name)
    text = report(df, base, str(run), preset, args.jobs)
    old = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(replace_block(old, f"{start}\n{text}{end}\n", name))
    print(text)


if __name__ == "__main__":
    main()
