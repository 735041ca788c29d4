"""The local SLURM test cluster and the SLURM workflow profile.

Tests marked `cluster` bring up a real single-node SLURM on this machine (tests/cluster/*.sh,
installing the Debian packages when missing) and stop it at the end of the session; they skip,
with the reason, where SLURM cannot be installed. Run them with
`pytest -m cluster tests/test_cluster_infra.py`. The unmarked tests only read the profile and the
scripts. See docs/cluster.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster.slurm import (
    CLUSTER_DIR,
    job_records,
    local_cluster_args,
    slurm_env,
    slurm_session,
    wait_for_job,
)

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A running local SLURM cluster for the whole session (skips where impossible)."""
    yield from slurm_session()


# ------------------------------------------------------------------------------------------------
# Static checks (no cluster needed)
# ------------------------------------------------------------------------------------------------


def test_scripts_parse() -> None:
    """The cluster scripts are valid bash."""
    for script in sorted(CLUSTER_DIR.glob("*.sh")):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.name}: {proc.stderr}"


def test_slurm_profile_settings() -> None:
    """The profile queries job states with squeue, bundles the models group, and names no
    partition or account (those are cluster-specific; docs/cluster.md says how to add them)."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    # MinJobAge of the test cluster (300 s) must exceed 3x the initial interval, or the plugin
    # falls back to sacct, which does not work without an accounting database.
    assert 3 * profile["slurm-init-seconds-before-status-checks"] < 300
    assert any(c.startswith("models=") for c in profile["group-components"])
    resources = dict(r.split("=", 1) for r in profile["default-resources"])
    assert {"mem_mb", "runtime"} <= set(resources)
    assert not {"slurm_partition", "slurm_account"} & set(resources)
    # Bundles are sized for one-after-another execution: one slot per job and per SLURM job.
    assert resources["bundle_slots"] == "1"
    assert "bundle_slots=1" in profile["resources"]
    assert "bundle_slots=local" in profile["set-resource-scopes"]
    # Every key is a documented command-line option (profiles are CLI defaults).
    help_text = subprocess.run(
        [str(SNAKEMAKE), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for key in profile:
        assert f"--{key}" in help_text, f"profiles/slurm: unknown option {key}"


# ------------------------------------------------------------------------------------------------
# Against the running cluster
# ------------------------------------------------------------------------------------------------


@pytest.mark.cluster
def test_sbatch_wrap_job_completes(slurm_cluster: None, tmp_path: Path) -> None:
    """A trivial batch job runs on the node and SLURM records it as COMPLETED."""
    out = tmp_path / "job.out"
    proc = subprocess.run(
        ["sbatch", "--parsable", "-D", str(tmp_path), "-o", str(out), "--mem=100", "-t", "2",
         "--wrap", "echo hello from $SLURM_JOB_ID"],
        capture_output=True, text=True, check=True, env=slurm_env(),
    )  # fmt: skip
    job_id = proc.stdout.strip().split(";")[0]
    assert job_id.isdigit(), proc.stdout
    assert wait_for_job(job_id, timeout=120) == "COMPLETED"
    assert out.read_text().strip() == f"hello from {job_id}"


# A throwaway workflow: prepare -> train (three jobs of the group "models") -> collect. Each job
# writes the id of the SLURM job it ran in, so the test sees which jobs were bundled.
TOY_SNAKEFILE = """
rule all:
    input:
        "out/summary.txt",


rule prepare:
    output:
        "out/prepared.txt",
    shell:
        "echo $SLURM_JOB_ID > {output}"


rule train:
    input:
        "out/prepared.txt",
    output:
        "out/train_{n}.txt",
    group:
        "models"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    shell:
        "echo $SLURM_JOB_ID > {output}"


rule collect:
    input:
        expand("out/train_{n}.txt", n=["a", "b", "c"]),
    output:
        "out/summary.txt",
    shell:
        "cat {input} > {output}; echo $SLURM_JOB_ID >> {output}"
"""


@pytest.mark.cluster
def test_snakemake_slurm_executor_with_profile(slurm_cluster: None, tmp_path: Path) -> None:
    """A small workflow runs through `snakemake --executor slurm` with profiles/slurm: every
    output exists, the three `models` jobs share one SLURM job, and SLURM lists all three SLURM
    jobs (prepare, the bundle, collect) as COMPLETED with the plugin's log files."""
    (tmp_path / "Snakefile").write_text(textwrap.dedent(TOY_SNAKEFILE))
    cmd = [
        str(SNAKEMAKE),
        "--workflow-profile", str(PROFILE),
        "--directory", str(tmp_path),
        "--snakefile", str(tmp_path / "Snakefile"),
        *local_cluster_args(),
        "--slurm-keep-successful-logs",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=slurm_env())
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{log[-8000:]}"

    out = tmp_path / "out"
    prepare_id = (out / "prepared.txt").read_text().strip()
    train_ids = {(out / f"train_{n}.txt").read_text().strip() for n in "abc"}
    summary = (out / "summary.txt").read_text().split()
    collect_id = summary[-1]
    assert len(train_ids) == 1, f"models group not bundled into one SLURM job: {train_ids}"
    (train_id,) = train_ids
    ids = {prepare_id, train_id, collect_id}
    assert all(i.isdigit() for i in ids) and len(ids) == 3, ids

    # The plugin names every job of the run after its run id (with the profile's prefix).
    match = re.search(r"SLURM run ID: (\S+)", log)
    assert match, log[-3000:]
    records = {r["id"]: r for r in job_records(match.group(1))}
    assert set(records) == ids, records
    assert {r["state"] for r in records.values()} == {"COMPLETED"}, records
    assert records[prepare_id]["comment"] == "rule_prepare"
    assert records[train_id]["comment"] == "rule_models_train"
    # The bundle is sized for running its jobs one after another (as the plugin does): one CPU,
    # the largest memory, the summed runtime (3 x 5 min).
    assert records[train_id]["cpus"] == "1", records[train_id]
    assert records[train_id]["mem"] == "200M", records[train_id]
    assert records[train_id]["limit"] == "15:00", records[train_id]
    assert records[collect_id]["comment"] == "rule_collect"

    logs = {p.stem: p for p in (tmp_path / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert ids <= set(logs), sorted(logs)
    assert "group_models" in str(logs[train_id].parent)
