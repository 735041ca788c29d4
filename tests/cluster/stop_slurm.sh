#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by tests/cluster/start_slurm.sh: slurmd, slurmctld
# and (only if start_slurm.sh started it) munged, each through its pid file in the state dir, and
# wait until they have exited. Safe to run when nothing is running.
#
#   tests/cluster/stop_slurm.sh
#
# Environment: AFFECTFLOW_SLURM_STATE (default /tmp/affectflow-slurm), as for start_slurm.sh;
# AFFECTFLOW_SLURM_PURGE=1 also deletes the state dir (job state, logs).
set -euo pipefail

if [[ ${EUID} -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n -E bash "$0" "$@"
    fi
    echo "stop_slurm.sh: needs root (or passwordless sudo)" >&2
    exit 1
fi

STATE=${AFFECTFLOW_SLURM_STATE:-/tmp/affectflow-slurm}

log() { echo "stop_slurm.sh: $*"; }

# Stop the process named in pid file $2 (a daemon called $1): SIGTERM, up to 20 s of waiting,
# then SIGKILL. The pid file is removed afterwards.
stop_daemon() {
    local name=$1 pidfile=$2 pid
    if [[ ! -s ${pidfile} ]]; then
        log "${name}: no pid file (${pidfile}), not running"
        return 0
    fi
    pid=$(cat "${pidfile}")
    # Only signal a live process that still is the daemon (guards against a reused pid).
    if ! kill -0 "${pid}" 2>/dev/null || ! grep -q "${name}" "/proc/${pid}/comm" 2>/dev/null; then
        log "${name}: pid ${pid} is not running"
        rm -f "${pidfile}"
        return 0
    fi
    kill -TERM "${pid}"
    for _ in $(seq 200); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
        log "${name}: pid ${pid} ignored SIGTERM for 20 s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "${pidfile}"
    log "${name}: stopped (pid ${pid})"
}

# Cancel the jobs still queued or running, so that no job step outlives slurmd.
export SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
if [[ -s ${STATE}/slurmctld.pid ]] && kill -0 "$(cat "${STATE}/slurmctld.pid")" 2>/dev/null; then
    jobs=$(squeue -h -t PENDING,RUNNING,SUSPENDED -o %i 2>/dev/null || true)
    if [[ -n ${jobs} ]]; then
        # shellcheck disable=SC2086  # one argument per job id
        scancel ${jobs} 2>/dev/null || true
        log "cancelled job(s): ${jobs//$'\n'/ }"
        for _ in $(seq 30); do
            [[ -z $(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null || true) ]] && break
            sleep 0.5
        done
    fi
fi

# Compute node first (it may still report job ends to the controller), then the controller, then
# the authentication daemon they both use.
stop_daemon slurmd "${STATE}/slurmd.pid"
stop_daemon slurmctld "${STATE}/slurmctld.pid"
if [[ -s ${STATE}/munged.pid ]]; then
    stop_daemon munged "${STATE}/munged.pid"
    rm -f /run/munge/munged.pid
else
    log "munged: not started by start_slurm.sh, left alone"
fi

if [[ ${AFFECTFLOW_SLURM_PURGE:-0} == 1 ]]; then
    rm -rf "${STATE}"
    log "removed ${STATE}"
fi
