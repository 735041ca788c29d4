"""A run killed during the models stage resumes with `--rerun-incomplete` to the same tables.

Cheap version of "kill a whole run": a copy of the finished shared tiny run loses every model
output of one fold, so a new run has exactly that fold's model jobs (and what follows them) to
do. That run is started in its own process group and killed with SIGKILL (Snakemake and its
job processes, no chance to clean up) while a model job is running, i.e. while Snakemake has
marked its outputs incomplete. Then:

- no output of the killed job looks complete: each file at an output path is whole (outputs
  appear by an atomic rename of a ``.*.part`` file, affectflow.io), at least one output is
  still missing, and Snakemake plans the job again;
- after ``snakemake --unlock`` (SIGKILL leaves the lock behind) ``snakemake --rerun-incomplete``
  finishes the run, and the per-fold metrics, tables and the fold's predictions equal those of
  the uninterrupted run exactly (values and Parquet metadata, no tolerance).

Every run has the environment of a real run (no fixed PYTHONHASHSEED: tests/conftest.py,
real_run_env).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import REPO, SNAKEMAKE, assert_same_file, real_run_env, run_snakemake

pytestmark = pytest.mark.e2e

FOLD = "Ses02M"
COMPARED = [
    "results/metrics/per_fold.parquet",
    "results/tables/table2.csv",
    "results/tables/table3.csv",
    "results/tables/significance.csv",
]


def incomplete_outputs(workdir: Path) -> set[str]:
    """Output paths Snakemake has marked incomplete (.snakemake/incomplete, base64 names)."""
    root = workdir / ".snakemake" / "incomplete"
    if not root.exists():
        return set()
    paths = set()
    for path in root.rglob("*"):
        if path.is_file() and path.name != "migration_underway":
            parts = path.relative_to(root).parts
            encoded = "".join(p.removeprefix("@") for p in parts)
            paths.add(base64.urlsafe_b64decode(encoded).decode())
    return paths


def readable(path: Path) -> bool:
    """True when the file is a whole artifact of its kind (not a truncated write)."""
    try:
        if path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".npz":
            with np.load(path) as npz:
                for key in npz.files:
                    npz[key]
        elif path.suffix == ".pt":
            torch.load(path, map_location="cpu", weights_only=False)
        else:
            path.read_bytes()
    except Exception:
        return False
    return True


def start_run(workdir: Path) -> subprocess.Popen:
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2"]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # own process group: killpg reaches Snakemake and its jobs
        env=real_run_env(),  # no fixed PYTHONHASHSEED, as in a user's run
    )


def kill_during_a_model_job(workdir: Path, timeout: float = 300) -> set[str]:
    """Start the run, SIGKILL it while a model job runs; the outputs it had marked incomplete."""
    proc = start_run(workdir)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            marked = {p for p in incomplete_outputs(workdir) if p.startswith("results/models/")}
            if marked:
                time.sleep(1.0)  # well inside the job: its Python start alone takes longer
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return {p for p in incomplete_outputs(workdir) if p.startswith("results/models/")}
            if proc.poll() is not None:
                raise AssertionError(f"the run ended ({proc.returncode}) before any model job")
            time.sleep(0.05)
        raise AssertionError("no model job started in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_killed_run_resumes_to_identical_tables(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    removed = sorted(p for p in (work / "results/models").glob(f"*/*/{FOLD}") if p.is_dir())
    assert removed
    for path in removed:
        shutil.rmtree(path)

    killed = set()
    for _ in range(3):  # a kill between two jobs marks nothing: try again
        killed = kill_during_a_model_job(work)
        if killed:
            break
        shutil.rmtree(work / ".snakemake" / "locks", ignore_errors=True)
    assert killed, "SIGKILL never hit a running model job"

    # Nothing the killed jobs left behind looks complete: a file at an output path is whole;
    # a write cut short can only have left a hidden temp file (.<name>.<random>.part).
    for out in killed:
        path = work / out
        assert not path.exists() or readable(path), f"truncated output: {out}"
    for job_dir in {(work / out).parent for out in killed}:
        for path in job_dir.iterdir():
            assert readable(path) or path.name.startswith("."), f"truncated file: {path}"
    # Snakemake itself treats them as incomplete: the killed jobs are planned again.
    run_snakemake(work, "--unlock")
    plan = run_snakemake(work, "-n").stdout
    for out in killed:
        assert out in plan, f"{out} not planned again:\n{plan[-3000:]}"

    run_snakemake(work, "--cores", "2", "--rerun-incomplete")
    assert not incomplete_outputs(work)
    # Exactly equal, as in tests/test_determinism.py (no tolerance).
    for rel in COMPARED:
        assert_same_file(work / rel, tiny_run / rel)
    for path in removed:
        rel = path.relative_to(work) / "predictions.parquet"
        assert_same_file(work / rel, tiny_run / rel)
