"""The whole DAG on the tiny corpus through SLURM (profiles/slurm) equals the local run.

The first two tests only read the workflow: every rule sizes its SLURM jobs itself, and the
(B)LSTM jobs ask for a GPU exactly when configured for CUDA. The others (marker `cluster`) need
the local single-node SLURM of tests/cluster (started, and stopped afterwards, by the session
fixture; skipped with the reason where it cannot be installed). The run uses the repository's
SLURM profile unchanged, with the per-job caps fitted to the node
(tests.cluster.slurm.local_cluster_args) and the SLURM logs of successful jobs kept, in a fresh
workflow directory with the same config as the shared local `tiny_run`. Checks:

- every prediction, the per-fold metrics and the result tables equal the local run's exactly
  (grouping and SLURM execution change nothing); both runs fix no PYTHONHASHSEED, as a user's
  runs do, so every process of either run hashes strings with its own random seed;
- the jobs ran under SLURM: every SLURM job id the plugin reported has the log SLURM wrote for
  it (.snakemake/slurm_logs/.../<id>.log, written by the plugin's job step inside the
  allocation), and those SLURM still remembers (squeue, MinJobAge) are COMPLETED and carry the
  run's name;
- the profile's bundling took effect: model, fold, LLD and report jobs ran in group jobs, far
  fewer SLURM jobs than Snakemake jobs.

Timing (about 10 minutes on 2 cores): docs/cluster.md, "The whole workflow on SLURM".
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.cluster.slurm import job_records, local_cluster_args, slurm_env, slurm_session
from tests.conftest import REPO, make_workdir, run_snakemake, tiny_config

PROFILE = REPO / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COMPARED = [
    "results/metrics/per_fold.parquet",
    "results/tables/table1.csv",
    "results/tables/table2.csv",
    "results/tables/table3.csv",
    "results/tables/significance.csv",
]


def test_every_rule_declares_threads_memory_and_runtime() -> None:
    """What a rule asks of SLURM is its own, not the profile's defaults; no rule or profile names
    a partition or an account (cluster-specific, given on the command line: docs/cluster.md)."""
    rules = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        # Named rules, and rules defined in a loop (`rule:` with a `name:` f-string or a
        # registry record's `rule`, e.g. `hmm.rule`).
        for match in re.finditer(
            r"^[ \t]*rule(?: (\w+))?:\n(.*?)(?=^[ \t]*rule[ :]|\Z)", text, re.S | re.M
        ):
            body = match.group(2)
            name = match.group(1) or re.search(r'name:\s*(f?"[^"]+"|[\w.]+)', body).group(1)
            rules[name] = body
    # every rule file's rules, the three registry loops of models.smk among them
    assert {"hmm.rule", "lm.rule", "clf.rule", "train_final", "extract_audio_lld"} <= set(rules)
    assert len(rules) >= 20, sorted(rules)
    for name, body in rules.items():
        for key in ("threads:", "mem_mb=", "runtime="):
            assert key in body, f"rule {name} does not declare {key}"
    for path in [*(REPO / "workflow").rglob("*.smk"), *(REPO / "profiles").rglob("*.yaml")]:
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        for word in ("slurm_partition", "slurm_account", "partition", "account"):
            assert not any(word in line for line in code), f"{path}: {word}"


def test_rnn_jobs_ask_for_a_gpu_only_with_cuda(tmp_path: Path) -> None:
    """models.<net>.device: cuda gives that network's jobs gpu=1 (sbatch --gpus=1), cpu/auto 0."""
    workdir = make_workdir(tmp_path / "w", tiny_config())
    plan = run_snakemake(workdir, "-n", "--config", "models={blstm: {device: cuda}}").stdout
    gpus: dict[str, set[str]] = {"lstm": set(), "blstm": set()}
    for net, job in re.findall(r"rule train_(b?lstm):\n(.*?)Shell command", plan, re.S):
        gpus[net].add(re.search(r"resources: .*\bgpu=(\d+)", job).group(1))
    assert gpus == {"lstm": {"0"}, "blstm": {"1"}}, gpus


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A running local SLURM cluster for the whole session (skips where impossible)."""
    yield from slurm_session()


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One complete run of the tiny DAG through the SLURM executor."""
    workdir = make_workdir(tmp_path_factory.mktemp("slurm_run"), tiny_config())
    cmd = [
        str(SNAKEMAKE),
        "--workflow-profile", str(PROFILE),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        *local_cluster_args(),
        "--slurm-keep-successful-logs",
    ]  # fmt: skip
    env = slurm_env()  # a real run's: no fixed PYTHONHASHSEED
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{log[-10000:]}"
    print(f"\nSLURM run of the tiny DAG: {seconds:.0f} s")  # shown with pytest -s
    return {"workdir": workdir, "log": log, "seconds": seconds}


@pytest.mark.cluster
def test_results_equal_the_local_run(slurm_run: dict, tiny_run: Path) -> None:
    work: Path = slurm_run["workdir"]
    predictions = sorted((tiny_run / "results/models").rglob("predictions.parquet"))
    assert predictions
    for path in predictions:
        rel = path.relative_to(tiny_run)
        pd.testing.assert_frame_equal(
            pd.read_parquet(work / rel), pd.read_parquet(path), check_exact=True
        )
    for rel in COMPARED:
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(work / rel), pd.read_parquet(tiny_run / rel), check_exact=True
            )
        else:
            assert (work / rel).read_text() == (tiny_run / rel).read_text(), rel


@pytest.mark.cluster
def test_jobs_ran_under_slurm_in_bundles(slurm_run: dict) -> None:
    work: Path = slurm_run["workdir"]
    log: str = slurm_run["log"]
    submitted = dict(re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+)", log))
    slurm_ids = set(submitted.values())
    assert slurm_ids and all(i.isdigit() for i in slurm_ids)
    assert len(slurm_ids) == len(submitted)  # one SLURM job per (group) job

    # The log SLURM wrote for each job (sbatch --output), kept by --slurm-keep-successful-logs.
    logs = {p.stem: p for p in (work / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert slurm_ids <= set(logs), sorted(slurm_ids - set(logs))
    for i in slurm_ids:  # written inside the allocation by the plugin's job step executor
        text = logs[i].read_text()
        assert "--executor slurm-jobstep" in text and "Finished jobid" in text, logs[i]
    # The plugin's log folder: rule_<rule> for a single job, group_<group>_<rules> for a bundle.
    folders = [logs[i].relative_to(work / ".snakemake" / "slurm_logs").parts[0] for i in slurm_ids]
    kinds = Counter("_".join(f.split("_")[:2]) if f.startswith("group_") else f for f in folders)
    for group in ("models", "folds", "lld", "report"):
        assert kinds[f"group_{group}"] >= 1, kinds

    # SLURM's own records (squeue remembers finished jobs for MinJobAge, 300 s): the later
    # jobs of the run, all COMPLETED, all submitted by this run.
    run_id = re.search(r"SLURM run ID: (\S+)", log)
    assert run_id, log[-3000:]
    records = job_records(run_id.group(1))
    assert records, "squeue lists no job of the run"
    assert {r["id"] for r in records} <= slurm_ids
    assert {r["state"] for r in records} == {"COMPLETED"}, records

    # Bundling: far fewer SLURM jobs than Snakemake jobs.
    total = re.search(r"^total\s+(\d+)$", log, re.MULTILINE)
    assert total, log[:3000]
    n_jobs = int(total.group(1)) - 1  # without the target rule `all` (run locally)
    print(
        f"\n{n_jobs} Snakemake jobs in {len(slurm_ids)} SLURM jobs "
        f"({dict(sorted(kinds.items()))}), {slurm_run['seconds']:.0f} s"
    )
    assert len(slurm_ids) < n_jobs / 3, (len(slurm_ids), n_jobs)
