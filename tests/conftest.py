"""Shared fixtures: one complete DAG run on the tiny synthetic corpus for all end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from affectflow.io import read_parquet_metadata

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


#: Tasks of the end-to-end runs: one of Table 2 with all seven classifiers and one of Table 3,
#: so both tables are exercised while the shared run stays within the test budget.
E2E_TASKS = {
    "valence3": ["hmm_v", "hmm_f", "hmm_vf", "hmm_lm_vf", "svm_vf", "lstm_vf", "blstm_vf",
                 "blstm_vf_noctx"],
    "clusters3": ["hmm_vf", "hmm_lm_vf", "svm_vf", "lstm_vf", "blstm_vf"],
}


def tiny_config(**overrides: object) -> dict:
    """The repository's config.yaml on the tiny synthetic corpus, with the end-to-end tasks and
    short (B)LSTM training (and any top-level overrides)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["corpus"]["synthetic"]["preset"] = "tiny"
    config["tasks"] = {task: list(clfs) for task, clfs in E2E_TASKS.items()}
    for net in ("lstm", "blstm"):
        config["models"][net] = dict(config["models"][net], max_epochs=15, patience=5)
    config["final"] = {"tasks": ["valence3"], "classifiers": ["svm_vf", "blstm_vf", "svm_v"]}
    for key, value in overrides.items():
        config[key] = value
    return config


def real_run_env(hash_seed: int | None = None) -> dict[str, str]:
    """The environment of a real run: this process's, without a fixed ``PYTHONHASHSEED``, so
    Snakemake and every job process hash strings with their own random seed (as a user's run
    does) and a result that depends on set or dict-of-str hash order differs between runs.

    ``hash_seed``: one explicit seed for Snakemake and its jobs instead (for a test that wants
    two runs to differ in a known way)."""
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)
    return env


def run_snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    timeout: int = 1800,
    hash_seed: int | None = None,
) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` (which holds its own config.yaml), in the
    environment of a real run (:func:`real_run_env`)."""
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    env = real_run_env(hash_seed)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-5000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc


def assert_same_file(a: Path, b: Path) -> None:
    """Exactly the same content: Parquet by values (no tolerance) and metadata, npz by arrays,
    other files by bytes."""
    assert a.exists() and b.exists(), (a, b)
    if a.suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)
        assert read_parquet_metadata(a) == read_parquet_metadata(b), a
    elif a.suffix == ".npz":
        with np.load(a) as x, np.load(b) as y:
            assert sorted(x.files) == sorted(y.files), a
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{a}: {key}")
    else:
        assert a.read_bytes() == b.read_bytes(), a


def make_workdir(path: Path, config: dict) -> Path:
    """A workflow directory with its own config.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Workflow directory after one complete `snakemake --cores 2` on the tiny corpus.

    AFFECTFLOW_TINY_RUN=<workdir> reuses a finished run instead (for developing tests).
    """
    reuse = os.environ.get("AFFECTFLOW_TINY_RUN")
    if reuse:
        return Path(reuse)
    workdir = make_workdir(tmp_path_factory.mktemp("tiny_run"), tiny_config())
    run_snakemake(workdir, "--cores", "2")
    return workdir


def run_config(workdir: Path) -> dict:
    """The config a workflow directory ran with."""
    return yaml.safe_load((workdir / "config.yaml").read_text())
