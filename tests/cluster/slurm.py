"""The local single-node SLURM test cluster, driven from Python (pytest fixtures, scripts).

``ensure_slurm()`` installs the Debian packages when missing (install_slurm.sh) and starts the
daemons unless they already run (start_slurm.sh); ``stop_slurm()`` stops them (stop_slurm.sh).
``slurm_session()`` wraps both for a session-scoped pytest fixture that skips, with the reason,
where SLURM cannot be installed on the machine (no root or sudo, no apt-get, no package source),
and leaves a cluster alone that was already running before the tests. See docs/cluster.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

CLUSTER_DIR = Path(__file__).resolve().parent
REPO = CLUSTER_DIR.parents[1]
INSTALL = CLUSTER_DIR / "install_slurm.sh"
START = CLUSTER_DIR / "start_slurm.sh"
STOP = CLUSTER_DIR / "stop_slurm.sh"
# SLURM's own variable for the slurm.conf path; start_slurm.sh writes the file there.
DEFAULT_CONF = "/etc/slurm/slurm.conf"


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed on this machine (a reason to skip, not a test failure)."""


def slurm_env() -> dict[str, str]:
    """The environment for SLURM commands: SLURM_CONF names the test cluster's slurm.conf.

    Like a user's run, it fixes no PYTHONHASHSEED (one set in this process is dropped): a
    workflow submitted with it, and its jobs (sbatch exports the environment), hash strings
    with their own random seeds."""
    env = dict(os.environ, SLURM_CONF=os.environ.get("SLURM_CONF", DEFAULT_CONF))
    env.pop("PYTHONHASHSEED", None)
    return env


def _can_be_root() -> bool:
    """True when running as root or when passwordless sudo works."""
    if os.geteuid() == 0:
        return True
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0


def _run_script(script: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    """Run one of the cluster scripts, capturing its output."""
    return subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=slurm_env(),
    )


def state_dir() -> Path:
    """Spool, state, logs and pid files of the test cluster (as in start_slurm.sh)."""
    return Path(os.environ.get("AFFECTFLOW_SLURM_STATE", "/tmp/affectflow-slurm"))


def _controller_pid_alive() -> bool:
    """True when the slurmctld started by start_slurm.sh is alive (per its pid file)."""
    try:
        pid = int((state_dir() / "slurmctld.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # alive, but owned by root while the tests run as a user
    except OSError:
        return False
    return True


def slurm_running() -> bool:
    """True when the test cluster's controller runs and answers, and its node accepts jobs."""
    # The pid file first: asking a stopped controller costs seconds of retries in sinfo.
    if shutil.which("sinfo") is None or not _controller_pid_alive():
        return False
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15, env=slurm_env()
        )
    except subprocess.TimeoutExpired:
        return False
    states = proc.stdout.split()
    return proc.returncode == 0 and any(s in ("idle", "mixed", "allocated") for s in states)


def ensure_slurm() -> None:
    """Install SLURM if needed and start the local cluster unless it already runs.

    Raises SlurmUnavailable where the packages cannot be installed here, and RuntimeError (with
    the script's output, which ends with the daemons' log tails) where the cluster fails to start.
    """
    if slurm_running():
        return
    if not _can_be_root():
        raise SlurmUnavailable("the local SLURM cluster needs root or passwordless sudo")
    missing = [c for c in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(c) is None]
    if missing:
        if shutil.which("apt-get") is None:
            raise SlurmUnavailable(f"{', '.join(missing)} missing and no apt-get to install them")
        proc = _run_script(INSTALL, timeout=900)
        if proc.returncode != 0:
            raise SlurmUnavailable(
                f"installing SLURM failed ({INSTALL.name} exit {proc.returncode}): "
                f"{(proc.stdout + proc.stderr).strip()[-1500:]}"
            )
    proc = _run_script(START, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{START.name} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


def stop_slurm() -> None:
    """Stop the local cluster's daemons (no-op when none runs)."""
    proc = _run_script(STOP, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{STOP.name} failed (exit {proc.returncode}):\n{proc.stderr}")


def slurm_session() -> Iterator[None]:
    """Body of a session-scoped pytest fixture: cluster up for the session, down afterwards.

    A cluster that was already running is left running, as is every cluster when
    AFFECTFLOW_SLURM_KEEP=1 (handy while iterating on cluster tests).
    """
    was_running = slurm_running()
    try:
        ensure_slurm()
    except SlurmUnavailable as err:
        pytest.skip(f"no local SLURM cluster: {err}")
    try:
        yield
    finally:
        if not was_running and os.environ.get("AFFECTFLOW_SLURM_KEEP") != "1":
            stop_slurm()


def node_limits() -> tuple[int, int]:
    """CPUs and RealMemory (MB) of the cluster's node, as slurmctld knows them."""
    out = subprocess.run(
        ["scontrol", "show", "node", "--oneliner"],
        capture_output=True,
        text=True,
        check=True,
        env=slurm_env(),
    ).stdout
    cpus = re.search(r"\bCPUTot=(\d+)", out)
    mem = re.search(r"\bRealMemory=(\d+)", out)
    if cpus is None or mem is None:
        raise RuntimeError(f"cannot read the node's CPUs/memory from scontrol:\n{out}")
    return int(cpus.group(1)), int(mem.group(1))


def local_cluster_args() -> list[str]:
    """Snakemake options that fit profiles/slurm's per-job caps to the local node's size.

    The profile caps one SLURM job at 8 cores (`cores`) and 16 GB (`resources: mem_mb`); a job
    asking for more than the single node has would be rejected by sbatch. A command-line
    --resources replaces the profile's list, so its other entries (bundle_slots) are repeated.
    """
    cpus, mem = node_limits()
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    resources = dict(entry.split("=", 1) for entry in profile.get("resources", []))
    resources["mem_mb"] = str(min(mem, int(resources.get("mem_mb", mem))))
    cores = min(cpus, int(profile.get("cores", cpus)))
    return ["--cores", str(cores), "--resources", *(f"{k}={v}" for k, v in resources.items())]


def job_records(name: str) -> list[dict[str, str]]:
    """SLURM's records of the jobs called ``name`` (a Snakemake run's job name), finished ones
    included while they are younger than MinJobAge: id, state, comment (the plugin's
    rule_<rule> or rule_<group>_<rule>), CPUs, memory and time limit of each."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", name, "--format=%i|%T|%C|%m|%l|%k"],
        capture_output=True,
        text=True,
        check=True,
        env=slurm_env(),
    ).stdout
    records = []
    for line in out.splitlines():
        job_id, state, cpus, mem, limit, comment = line.strip().split("|", 5)
        records.append(
            {"id": job_id, "state": state, "cpus": cpus, "mem": mem, "limit": limit,
             "comment": comment}
        )  # fmt: skip
    return records


def wait_for_job(job_id: str, timeout: float = 120) -> str:
    """Wait until SLURM job ``job_id`` has left the queue; return its final state."""
    deadline = time.monotonic() + timeout
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["scontrol", "show", "job", job_id, "--oneliner"],
            capture_output=True,
            text=True,
            env=slurm_env(),
        ).stdout
        match = re.search(r"\bJobState=(\S+)", out)
        state = match.group(1) if match else "UNKNOWN"
        if state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "UNKNOWN"):
            return state
        time.sleep(0.5)
    raise TimeoutError(f"SLURM job {job_id} still {state} after {timeout} s")
