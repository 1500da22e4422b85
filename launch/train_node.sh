#!/usr/bin/env bash
# Data-parallel training on one node: one rank per GPU when GPUs are visible, else N CPU ranks.
#   bash launch/train_node.sh [N] --data shards/ --preset hierdec-drums_16bar --run runs/a [train options]
# N defaults to the number of GPUs (nvidia-smi), or 2 on a CPU-only machine.
set -euo pipefail
# Paths in the options (--data, --run, ...) are the caller's: this script stays in the caller's folder.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l || true)
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then N=$1; shift; else
  N=${GPUS:-0}
  [ "$N" -gt 0 ] || N=2
fi
TRAIN=${TRAIN:-$ROOT/build/bin/train}
# GPU ranks keep several cores each (no binding); CPU ranks run fastest bound one per core
# (docs/benchmarks.md: 2 bound ranks x 1 thread beat 1 rank x 2 threads by 26%).
if [ "${GPUS:-0}" -gt 0 ]; then BIND=none; else BIND=core; fi
FLAGS=(-np "$N" --bind-to "$BIND" --map-by slot)
[ "$(id -u)" -eq 0 ] && FLAGS+=(--allow-run-as-root)
[ "$N" -gt "$(nproc)" ] && FLAGS+=(--oversubscribe)
# Threads: the trainer divides the cores among the ranks of a node itself (--threads overrides).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# Shards are read-only: no HDF5 file locking (it fails on some network file systems).
export HDF5_USE_FILE_LOCKING=FALSE
# export NCCL_DEBUG=INFO            # uncomment when NCCL hangs or is slow: prints topology and transports
echo "+ mpirun ${FLAGS[*]} $TRAIN $*"
exec mpirun "${FLAGS[@]}" -x OMP_NUM_THREADS -x HDF5_USE_FILE_LOCKING "$TRAIN" "$@"
