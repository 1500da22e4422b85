#!/usr/bin/env bash
# Data-parallel training on one node: one rank per GPU when GPUs are visible, else N CPU ranks.
#   bash launch/train_node.sh [N] --data shards/ --preset hierdec-drums_16bar --run runs/a [train options]
# N defaults to the number of GPUs (nvidia-smi), or 2 on a CPU-only machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then N=$1; shift; else
  N=$(nvidia-smi -L 2>/dev/null | wc -l || true)
  [ "${N:-0}" -gt 0 ] || N=2
fi
TRAIN=${TRAIN:-./build/bin/train}
FLAGS=(-np "$N" --bind-to none --map-by slot)
[ "$(id -u)" -eq 0 ] && FLAGS+=(--allow-run-as-root)
[ "$N" -gt "$(nproc)" ] && FLAGS+=(--oversubscribe)
# Threads: the trainer divides the cores among the ranks of a node itself (--threads overrides).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# Shards are read-only: no HDF5 file locking (it fails on some network file systems).
export HDF5_USE_FILE_LOCKING=FALSE
# export NCCL_DEBUG=INFO            # uncomment when NCCL hangs or is slow: prints topology and transports
echo "+ mpirun ${FLAGS[*]} $TRAIN $*"
exec mpirun "${FLAGS[@]}" -x OMP_NUM_THREADS -x HDF5_USE_FILE_LOCKING "$TRAIN" "$@"
