#!/usr/bin/env bash
# Install the Debian packages of a single-node SLURM test cluster (slurmctld, slurmd, the client
# commands and munge) without starting any daemon. Idempotent: packages already installed are left
# alone, and the script says what it did. Debian 12 / Ubuntu; needs root or passwordless sudo.
#
#   tests/cluster/install_slurm.sh          # then: tests/cluster/start_slurm.sh
#
# The packages' maintainer scripts would try to start slurmctld/slurmd/munged through invoke-rc.d
# (which fails, or starts them unconfigured, on machines without systemd such as CI containers).
# A /usr/sbin/policy-rc.d that exits 101 ("action forbidden") stops that; the script creates one
# for the duration of the install when none exists, and removes it again afterwards.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

# Re-run as root through sudo when started by an ordinary user.
if [[ ${EUID} -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n -E bash "$0" "$@"
    fi
    echo "install_slurm.sh: needs root (or passwordless sudo) to install ${PACKAGES[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_slurm.sh: apt-get not found; install ${PACKAGES[*]} with your package manager" >&2
    exit 1
fi

# Which of the packages are not installed yet?
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)
    if [[ ${status} != "install ok installed" ]]; then
        missing+=("${pkg}")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_slurm.sh: already installed: ${PACKAGES[*]} ($(dpkg-query -W -f='${Version}' slurmctld))"
    exit 0
fi

# Forbid service starts during the install, unless a policy already exists (Docker images have one).
POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [[ ${created_policy} -eq 1 ]]; then
        rm -f "${POLICY}"
        echo "install_slurm.sh: removed the temporary ${POLICY}"
    fi
}
trap cleanup EXIT
if [[ ! -e ${POLICY} ]]; then
    printf '#!/bin/sh\n# Temporary (tests/cluster/install_slurm.sh): no service starts.\nexit 101\n' \
        >"${POLICY}"
    chmod 0755 "${POLICY}"
    created_policy=1
    echo "install_slurm.sh: created a temporary ${POLICY} (exit 101) so no daemon starts"
fi

export DEBIAN_FRONTEND=noninteractive
start=${SECONDS}
# Refresh the package lists only when apt does not know a candidate for every package.
need_update=0
for pkg in "${missing[@]}"; do
    candidate=$(apt-cache policy "${pkg}" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -z ${candidate} || ${candidate} == "(none)" ]]; then
        need_update=1
    fi
done
if [[ ${need_update} -eq 1 ]]; then
    echo "install_slurm.sh: apt-get update"
    apt-get update -qq
fi

echo "install_slurm.sh: installing ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_slurm.sh: installed ${missing[*]} in $((SECONDS - start)) s" \
    "(slurm $(dpkg-query -W -f='${Version}' slurmctld))"
