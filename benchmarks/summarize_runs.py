"""Summarise Snakemake `benchmark:` files of a workflow run into benchmarks/models.md.

Usage: python benchmarks/summarize_runs.py [RUN_DIR] [--out benchmarks/models.md]
Reads RUN_DIR/benchmarks/runs/models/{classifier}/{fold}.tsv (wall s and CPU s per job; one
job per (classifier, fold) trains every task configured with the classifier) and counts the
tasks from RUN_DIR/results/models/{task}/{classifier}/.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd


def model_job_times(run_dir: Path) -> pd.DataFrame:
    """One row per model job: classifier, fold, tasks, wall seconds, CPU seconds."""
    rows = []
    for tsv in sorted((run_dir / "benchmarks/runs/models").glob("*/*.tsv")):
        bench = pd.read_csv(tsv, sep="\t").iloc[-1]
        classifier = tsv.parts[-2]
        tasks = len(list((run_dir / "results/models").glob(f"*/{classifier}/{tsv.stem}")))
        rows.append({"classifier": classifier, "fold": tsv.stem, "tasks": tasks,
                     "wall_s": float(bench["s"]), "cpu_s": float(bench["cpu_time"])})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", nargs="?", default=".")
    parser.add_argument("--out", default="benchmarks/models.md")
    parser.add_argument("--label", default="demo preset, `snakemake --cores 2`")
    args = parser.parse_args()
    jobs = model_job_times(Path(args.run_dir))
    if jobs.empty:
        raise SystemExit(f"no model benchmark files under {args.run_dir}/benchmarks/runs/models")
    per_fold = jobs.groupby(["classifier", "fold"])[["wall_s", "cpu_s"]].sum()
    by_clf = per_fold.groupby("classifier").agg(["mean", "max"]).round(1)
    lines = [
        "# Model training time per fold",
        "",
        f"Run: {args.label}; generated {time.strftime('%Y-%m-%d %H:%M')} on "
        f"{platform.machine()} with 2 shared cores. Times from the jobs' `benchmark:` files; one",
        "job per classifier and fold trains all its tasks. Wall time includes process start",
        "(Python and library imports, about 1-2 s a job) and waiting for the shared cores.",
        "",
        "| classifier | tasks | wall s per fold (mean / max) | CPU s per fold (mean / max) |",
        "|---|---:|---:|---:|",
    ]
    n_tasks = jobs.groupby("classifier")["tasks"].max()
    for clf, row in by_clf.iterrows():
        lines.append(f"| {clf} | {n_tasks[clf]} | {row[('wall_s', 'mean')]} / "
                     f"{row[('wall_s', 'max')]} | {row[('cpu_s', 'mean')]} / "
                     f"{row[('cpu_s', 'max')]} |")
    total_wall, total_cpu = jobs["wall_s"].sum(), jobs["cpu_s"].sum()
    lines += [
        "",
        f"All {len(jobs)} model jobs: {total_wall / 60:.1f} job-minutes of wall time, "
        f"{total_cpu / 60:.1f} CPU-minutes; on 2 cores the models stage needs at least "
        f"{total_wall / 120:.1f} minutes.",
        "",
        "At iemocap scale (generated data of the same shape, one core): benchmarks/hmm.md",
        "(all HMM model groups of one fold) and benchmarks/rnn.md (one BLSTM fold).",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
