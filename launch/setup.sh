#!/usr/bin/env bash
# Installs everything the project needs on Debian 12 / Ubuntu 22.04+ (run as root or with sudo).
# Why each package is here: docs/dependencies.md.
#   bash launch/setup.sh            build, train, test
#   bash launch/setup.sh --slurm    also SLURM and munge, for the tests that submit slurm/train.sh to a
#                                   private single-host SLURM (CI does this; the packages' own
#                                   services stay unconfigured and are never started by the tests)
#   bash launch/setup.sh --torch2   also PyTorch's CUDA LibTorch 2.x (the cluster build) in a virtual
#                                   environment, $MVAE_TORCH2_VENV (default .venv-torch2 in the
#                                   repository), and TensorBoard; `bash launch/test.sh --torch2` builds
#                                   and tests with it
#   bash launch/setup.sh --magenta  also Magenta 2.1.4 with TensorFlow 2.12 (CPU) in a virtual
#                                   environment, $MVAE_MAGENTA_VENV (default .venv-magenta), every
#                                   version pinned (tools/magenta/requirements.txt); the tests that
#                                   check our checkpoints against Magenta's own code use it
# Options combine (--slurm --torch2 --magenta).
set -euo pipefail
TORCH2_VERSION=2.11.0       # what the GPU machines run (CUDA 13.0): docs/dependencies.md
TENSORBOARD_VERSION=2.21.0  # reads the event files train writes (a test checks it)
H5PY_VERSION=3.12.1         # tools/reference_train.py reads the shards (also under torchrun: tools/ddp_side_by_side.sh)
SAFETENSORS_VERSION=0.8.0   # Hugging Face's own reader of our model files: the format's oracle in the tests
WITH_SLURM=0
WITH_TORCH2=0
WITH_MAGENTA=0
for arg in "$@"; do
  case "$arg" in
    --slurm) WITH_SLURM=1 ;;
    --torch2) WITH_TORCH2=1 ;;
    --magenta) WITH_MAGENTA=1 ;;
    *) echo "setup: unknown option $arg (--slurm, --torch2, --magenta)" >&2; exit 2 ;;
  esac
done
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
  libleveldb-dev                          # TensorFlow checkpoint indexes (Magenta's models)
  libgtest-dev                            # tests
  clang                                   # libFuzzer target for the MIDI reader
  clang-format                            # the code style check (.clang-format)
)
if [ "$WITH_SLURM" = 1 ]; then
  PACKAGES+=(slurmctld slurmd slurm-client munge)  # tests/slurm_test.cpp
fi
if [ "$WITH_TORCH2" = 1 ] || [ "$WITH_MAGENTA" = 1 ]; then
  PACKAGES+=(python3-venv)  # the virtual environments for PyTorch's wheel and for Magenta
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
else
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: packages installed"
fi
if [ "$WITH_TORCH2" = 1 ]; then
  VENV="${MVAE_TORCH2_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv-torch2}"
  if [ "$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" = "$TORCH2_VERSION" ]; then
    echo "setup: PyTorch $TORCH2_VERSION present in $VENV"
  else
    echo "setup: installing PyTorch $TORCH2_VERSION (CUDA LibTorch, ~4.6 GB with its CUDA wheels) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-cache-dir "torch==$TORCH2_VERSION"
  fi
  "$VENV/bin/python" -c 'import tensorboard' 2>/dev/null ||
    "$VENV/bin/pip" install -q --no-cache-dir "tensorboard==$TENSORBOARD_VERSION"
  "$VENV/bin/python" -c 'import h5py' 2>/dev/null || "$VENV/bin/pip" install -q --no-cache-dir "h5py==$H5PY_VERSION"
  "$VENV/bin/python" -c 'import safetensors' 2>/dev/null ||
    "$VENV/bin/pip" install -q --no-cache-dir "safetensors==$SAFETENSORS_VERSION"
  echo "setup: LibTorch 2.x at $("$VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)"
fi
if [ "$WITH_MAGENTA" = 1 ]; then
  ROOT="$(cd "$(dirname "$0")/.." && pwd)"
  VENV="${MVAE_MAGENTA_VENV:-$ROOT/.venv-magenta}"
  # Magenta 2.1.4's own pins (TensorFlow 2.9, numpy 1.21, numba 0.49) have no wheels for Python
  # 3.11; this set is one that runs its MusicVAE on Debian 12's Python: docs/magenta.md.
  if cmp -s "$ROOT/tools/magenta/requirements.txt" "$VENV/requirements.installed" 2>/dev/null; then
    echo "setup: Magenta 2.1.4 present in $VENV"
  else
    echo "setup: installing Magenta 2.1.4 and TensorFlow 2.12.1 (CPU, ~1.5 GB) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-cache-dir --no-deps -r "$ROOT/tools/magenta/requirements.txt"
    cp "$ROOT/tools/magenta/requirements.txt" "$VENV/requirements.installed"
  fi
fi
echo "setup: done"
