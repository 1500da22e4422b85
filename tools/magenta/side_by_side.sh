#!/usr/bin/env bash
# Magenta's own trainer (music_vae_train, Magenta 2.1.4 + TensorFlow 2.12.1) and ours on the same
# work: config cat-drums_2bar_small, the same batch, the same cores (taskset), on Groove's training
# split, with Magenta's recipe both ways (teacher forcing; its inverse-sigmoid scheduled sampling,
# k = 1000), at one precision or both (fp32; bf16: TensorFlow's oneDNN bfloat16 graph rewrite for
# Magenta, `--precision bf16` for ours). Prints one table of sequences per second
# (docs/benchmarks.md, "Magenta's trainer beside ours").
#
#   bash tools/magenta/side_by_side.sh [--batch 64] [--steps 301] [--cores "1 2"] [--precisions "fp32 bf16"] [--work DIR]
#
# Needs: build/ (bash launch/test.sh or cmake), launch/setup.sh --magenta, MVAE_GROOVE_ZIP.
# Pause other work on the machine first: every figure is wall-clock throughput.
set -euo pipefail
cd "$(dirname "$0")/../.."
BATCH=64
STEPS=201      # Magenta logs every 100 steps: the figure is the mean of its intervals after the first
CORES="1 2"
PRECISIONS=fp32
WORK=/tmp/mvae-side-by-side
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --cores) CORES="$2"; shift 2 ;;
    --precisions) PRECISIONS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    *) echo "side_by_side: unknown option $1" >&2; exit 2 ;;
  esac
done
PY="${MVAE_MAGENTA_PYTHON:-$PWD/.venv-magenta/bin/python}"
ZIP="${MVAE_GROOVE_ZIP:?set MVAE_GROOVE_ZIP to the Groove zip}"
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$WORK"
[ -f "$WORK/train.tfrecord" ] || "$PY" tools/magenta/groove_to_tfrecord.py --groove "$ZIP" --split train --out "$WORK/train.tfrecord"
[ -f "$WORK/shards/manifest.json" ] || build/bin/preprocess --groove "$ZIP" --out "$WORK/shards" --bars 2 >/dev/null

cpu_list() { seq -s, 0 $(($1 - 1)); }

# Magenta: sequences/s over its 100-step logging intervals ("... (12.3 sec)") after the first, which
# holds the input pipeline's warm-up (absl prints each line twice: once kept).
magenta_rate() {  # cores recipe precision
  local hp="batch_size=$BATCH" log="$WORK/magenta-$1-$2-$3.log"
  [ "$2" = teacher ] && hp="$hp,sampling_schedule=constant,sampling_rate=0"  # an int in this config's hparams
  rm -rf "$WORK/magenta-run"
  taskset -c "$(cpu_list "$1")" "$PY" tools/magenta/train.py --config=cat-drums_2bar_small --run_dir="$WORK/magenta-run" \
    --mode=train --examples_path="$WORK/train.tfrecord" --hparams="$hp" --num_steps="$STEPS" \
    "--$( [ "$3" = bf16 ] || echo no)bf16" >"$log" 2>&1 ||
    { echo "side_by_side: Magenta's trainer failed: $log" >&2; tail -3 "$log" >&2; exit 1; }
  grep -o "global_step = [0-9]*, loss = [0-9.]* ([0-9.]* sec)" "$log" | uniq | tail -n +2 | sed 's/.*(\([0-9.]*\) sec)/\1/' |
    awk -v b="$BATCH" '{ s += $1; n++ } END { if (n) printf "%.1f", n * 100 * b / s; else print "?" }'
}

# Ours: the mean seq/s of the progress lines of steps 150, 200, ... (the last line, after fewer steps, left out).
ours_rate() {  # cores recipe precision
  local recipe=(--sampling-rate 0) log="$WORK/ours-$1-$2-$3.log"
  [ "$2" = scheduled ] && recipe=(--sampling-schedule inverse_sigmoid --sampling-rate 1000)
  rm -rf "$WORK/ours-run"
  taskset -c "$(cpu_list "$1")" build/bin/train --data "$WORK/shards" --run "$WORK/ours-run" --preset cat-drums_2bar_small \
    "${recipe[@]}" --precision "$3" --batch "$BATCH" --threads "$1" --steps "$STEPS" --log-every 50 --eval-every 100000 \
    --checkpoint-every 100000 >"$log" 2>&1 ||
    { echo "side_by_side: train failed: $log" >&2; tail -3 "$log" >&2; exit 1; }
  grep -o "step [0-9]*/[0-9]* .* \([0-9.]*\) seq/s" "$log" | awk '{ split($2, s, "/"); if (s[1] > 100 && s[1] % 50 == 0) print $(NF-1) }' |
    awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "?" }'
}

echo "| cores | precision | recipe | Magenta music_vae_train (seq/s) | ours (seq/s) | ours / Magenta |"
echo "|---|---|---|---|---|---|"
for cores in $CORES; do
  for precision in $PRECISIONS; do
    for recipe in teacher scheduled; do
      m=$(magenta_rate "$cores" "$recipe" "$precision")
      o=$(ours_rate "$cores" "$recipe" "$precision")
      ratio=$(awk -v m="$m" -v o="$o" 'BEGIN { if (m > 0) printf "%.1fx", o / m; else print "?" }')
      echo "| $cores | $precision | ${recipe/teacher/teacher forcing} | $m | $o | $ratio |"
    done
  done
done
echo "(cat-drums_2bar_small, batch $BATCH, $STEPS steps each; logs in $WORK)"
