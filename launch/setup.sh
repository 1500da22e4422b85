#!/usr/bin/env bash
# Installs everything the project needs on Debian 12 / Ubuntu 22.04+ (run as root or with sudo).
# Why each package is here: docs/dependencies.md.
#   bash launch/setup.sh            build, train, test
#   bash launch/setup.sh --slurm    also SLURM and munge, for the tests that submit slurm/train.sh to a
#                                   private single-host SLURM (CI does this; the packages' own
#                                   services stay unconfigured and are never started by the tests)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev libopenblas0-openmp        # LibTorch 1.13 (CPU); OpenBLAS makes it ~6x faster than reference BLAS
  libopenmpi-dev openmpi-bin              # MPI: process launch and CPU all-reduce
  libhdf5-dev                             # shards
  libboost-program-options-dev            # command-line and config-file options
  libzip-dev zlib1g-dev                   # reading the Groove zip in place; CRC-32
  nlohmann-json3-dev                      # manifest, metrics, configs
  libgtest-dev                            # tests
  clang                                   # libFuzzer target for the MIDI reader
)
if [ "${1:-}" = "--slurm" ]; then
  PACKAGES+=(slurmctld slurmd slurm-client munge)  # tests/slurm_test.cpp
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
