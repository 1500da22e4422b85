#!/usr/bin/env bash
# PyTorch's DistributedDataParallel (gloo, the plain-PyTorch MusicVAE of tools/reference_train.py
# under torchrun) and our data-parallel trainer (mpirun -np N train) on the same work: the same
# model (cat-drums_2bar_small's sizes with a token encoder: 512-way one-hot input, encoder 512,
# z 256, decoder 256x2), teacher forcing, the same batch per rank, one thread per rank, 1 and 2
# ranks on the same cores. Prints one table of sequences per second (all ranks) and the scaling
# from 1 to 2 ranks (docs/benchmarks.md, "PyTorch's DistributedDataParallel beside ours").
#
#   bash tools/ddp_side_by_side.sh [--batch 64] [--steps 301] [--data SHARDS] [--builds "build build-torch2"] [--work DIR]
#
# Needs: launch/setup.sh --torch2 (PyTorch 2.11 with h5py in .venv-torch2), a build (launch/test.sh),
# 2-bar shards (made from MVAE_GROOVE_ZIP when --data is not given). Pause other work first: every
# figure is wall-clock throughput, and 2 ranks take 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=64
STEPS=301
DATA=""
BUILDS=""
WORK=/tmp/mvae-ddp-side-by-side
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --builds) BUILDS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    *) echo "ddp_side_by_side: unknown option $1" >&2; exit 2 ;;
  esac
done
PY="${MVAE_TORCH2_VENV:-$PWD/.venv-torch2}/bin/python"
"$PY" -c 'import torch, h5py' 2>/dev/null || { echo "ddp_side_by_side: no PyTorch with h5py at $PY: bash launch/setup.sh --torch2" >&2; exit 2; }
[ -n "$BUILDS" ] || for b in build build-torch2; do [ -x "$b/bin/train" ] && BUILDS="$BUILDS $b"; done
[ -n "$BUILDS" ] || { echo "ddp_side_by_side: no build/bin/train: bash launch/test.sh first" >&2; exit 2; }
mkdir -p "$WORK"
if [ -z "$DATA" ]; then
  DATA="$WORK/shards"
  [ -f "$DATA/manifest.json" ] || build/bin/preprocess --groove "${MVAE_GROOVE_ZIP:?set MVAE_GROOVE_ZIP or pass --data}" \
    --out "$DATA" --bars 2 >/dev/null
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cpu_list() { seq -s, 0 $(($1 - 1)); }

# The mean seq/s of the progress lines of steps 150, 200, ... (the first hold the warm-up; a last
# line after fewer than 50 steps is left out); both programs print "step N[/total] ... R seq/s".
mean_rate() {
  grep -o "^step [0-9]*[/0-9]* .* [0-9.]* seq/s" "$1" | awk '{ split($2, s, "/"); if (s[1] > 100 && s[1] % 50 == 0) print $(NF-1) }' |
    awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "?" }'
}

ddp_rate() {  # ranks
  local log="$WORK/ddp-$1.log"
  taskset -c "$(cpu_list "$1")" "$(dirname "$PY")/torchrun" --standalone --nproc_per_node "$1" tools/reference_train.py \
    --data "$DATA" --run-dir "$WORK/ddp-run" --bars 2 --decoder flat --enc 512 --z 256 --dec 256 --dec-layers 2 \
    --free-bits 48 --beta 0.2 --batch "$BATCH" --steps "$STEPS" --log-every 50 --threads 1 --no-eval >"$log" 2>&1 ||
    { echo "ddp_side_by_side: torchrun failed: $log" >&2; tail -3 "$log" >&2; exit 1; }
  mean_rate "$log"
}

ours_rate() {  # build ranks
  local log="$WORK/ours-$(basename "$1")-$2.log"
  rm -rf "$WORK/ours-run"
  taskset -c "$(cpu_list "$2")" mpirun -np "$2" "$1/bin/train" --data "$DATA" --run "$WORK/ours-run" \
    --preset cat-drums_2bar_small --encoder-input token --sampling-rate 0 --batch "$BATCH" --threads 1 --steps "$STEPS" \
    --log-every 50 --eval-every 100000 --checkpoint-every 100000 >"$log" 2>&1 ||
    { echo "ddp_side_by_side: train failed: $log" >&2; tail -3 "$log" >&2; exit 1; }
  mean_rate "$log"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "?" }'; }

declare -A rate
for ranks in 1 2; do
  rate[ddp,$ranks]=$(ddp_rate "$ranks")
  for b in $BUILDS; do rate[$b,$ranks]=$(ours_rate "$b" "$ranks"); done
done
header="| ranks | PyTorch DDP, gloo (seq/s) |"
line="|---|---|"
for b in $BUILDS; do header="$header ours, $b (seq/s) | ours / DDP |"; line="$line---|---|"; done
echo "$header"
echo "$line"
for ranks in 1 2; do
  row="| $ranks | ${rate[ddp,$ranks]} |"
  for b in $BUILDS; do row="$row ${rate[$b,$ranks]} | $(ratio "${rate[$b,$ranks]}" "${rate[ddp,$ranks]}") |"; done
  echo "$row"
done
row="| scaling 1 → 2 | $(ratio "${rate[ddp,2]}" "${rate[ddp,1]}") |"
for b in $BUILDS; do row="$row $(ratio "${rate[$b,2]}" "${rate[$b,1]}") | |"; done
echo "$row"
echo "(batch $BATCH per rank, $STEPS steps, 1 thread per rank; PyTorch $("$PY" -c 'import torch; print(torch.__version__)'); logs in $WORK)"
