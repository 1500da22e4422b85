#!/usr/bin/env bash
# Magenta's own trainer and ours on the same 16-bar work at equal steps: does our hierarchical
# model learn like Magenta's HierarchicalLstmDecoder? (issue 23; docs/results.md, "Magenta's
# hierarchical trainer beside ours").
#
#   bash tools/magenta/equal_steps.sh [--steps 300] [--batch 64] [--every 25] [--work DIR] [--resume]
#
# Three runs of config hierdec-drums_16bar at docs/results.md section 4's sizes (encoder 256x1,
# z 256, conductor and decoder 256x2; Magenta's hierarchical decoder gives both dec_rnn_size),
# its recipe (teacher forcing, free bits 256, beta 0.2), batch 64, one core each:
#   magenta-music_vae_train   Magenta 2.1.4's music_vae_train on the TFRecord of Groove's training split
#   ours-magenta-init         our train from Magenta's initialisation (magenta init), LSTM bias rate 1x
#   ours-default              our train as a user runs it (PyTorch's initialisation, bias rate 2x)
# Ours read the 16-bar shards of the same split. Then every final model, Magenta's imported with
# `magenta import`, is evaluated by our evaluate on the same test windows, and the training
# curves are drawn overlaid (Magenta's summaries through tools/magenta/events_to_metrics.py).
# Figures are per step, not per second: other work on the machine changes nothing but the time.
# --resume: continue the three runs of --work to --steps (Magenta's trainer resumes from its run
# folder's last checkpoint, ours with `train --resume`; the initialisation is not drawn again).
#
# Needs: build/, launch/setup.sh --magenta, MVAE_GROOVE_ZIP.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=300
BATCH=64
EVERY=25
WORK=/tmp/mvae-equal-steps
RESUME=0
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) STEPS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --every) EVERY="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --resume) RESUME=1; shift ;;
    *) echo "equal_steps: unknown option $1" >&2; exit 2 ;;
  esac
done
PY="${MVAE_MAGENTA_PYTHON:-$PWD/.venv-magenta/bin/python}"
ZIP="${MVAE_GROOVE_ZIP:?set MVAE_GROOVE_ZIP to the Groove zip}"
CONFIG=hierdec-drums_16bar
SIZES="enc_rnn_size=[256],z_size=256,dec_rnn_size=[256,256]"
OUR_SIZES=(--enc 256 --enc-layers 1 --z 256 --cond 256 --cond-layers 2 --dec 256 --dec-layers 2 --encoder-input roll)
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$WORK"
[ -f "$WORK/train.tfrecord" ] || "$PY" tools/magenta/groove_to_tfrecord.py --groove "$ZIP" --split train --out "$WORK/train.tfrecord"
[ -f "$WORK/shards16/manifest.json" ] || build/bin/preprocess --groove "$ZIP" --out "$WORK/shards16" --bars 16 >/dev/null

fail() { echo "equal_steps: $1 failed: $2" >&2; tail -5 "$2" >&2; exit 1; }

magenta_run() {  # on core 0
  [ "$RESUME" = 1 ] || rm -rf "$WORK/magenta-run"
  taskset -c 0 "$PY" tools/magenta/train.py --config="$CONFIG" --run_dir="$WORK/magenta-run" --mode=train \
    --examples_path="$WORK/train.tfrecord" --hparams="batch_size=$BATCH,$SIZES" --num_steps="$STEPS" \
    --summary_steps=1 >>"$WORK/magenta.log" 2>&1 || fail "Magenta's trainer" "$WORK/magenta.log"
  mkdir -p "$WORK/magenta-music_vae_train"
  "$PY" tools/magenta/events_to_metrics.py "$WORK/magenta-run/train" --every "$EVERY" \
    --out "$WORK/magenta-music_vae_train/metrics.jsonl"
  build/bin/magenta import --checkpoint "$WORK/magenta-run/train" --config "$CONFIG" --hparams "$SIZES" \
    --out "$WORK/magenta-music_vae_train/model.safetensors" 2>>"$WORK/magenta.log"
}

ours_run() {  # name, extra options...; on core 1
  local name="$1" resume=()
  shift
  if [ "$RESUME" = 1 ]; then resume=(--resume); else rm -rf "${WORK:?}/$name"; fi
  taskset -c 1 build/bin/train --data "$WORK/shards16" --run "$WORK/$name" --preset "$CONFIG" "${OUR_SIZES[@]}" \
    --sampling-rate 0 --batch "$BATCH" --threads 1 --steps "$STEPS" --log-every "$EVERY" --eval-every 100000 \
    --checkpoint-every "$STEPS" "${resume[@]}" "$@" >>"$WORK/$name.log" 2>&1 || fail "train ($name)" "$WORK/$name.log"
}

ours_runs() {
  [ -f "$WORK/magenta-init.safetensors" ] && [ "$RESUME" = 1 ] ||
    build/bin/magenta init --config "$CONFIG" --hparams "$SIZES" --seed 1 --out "$WORK/magenta-init.safetensors" 2>/dev/null
  ours_run ours-magenta-init --init-from "$WORK/magenta-init.safetensors" --lstm-bias-lr-scale 1
  ours_run ours-default
}

rm -f "$WORK/magenta.log"  # appended to by each run of the trainer in this call
magenta_run &
MAGENTA_PID=$!
ours_runs
wait "$MAGENTA_PID"

step_file() { printf '%s/checkpoints/step-%08d' "$1" "$STEPS"; }
echo "| $STEPS steps of $BATCH | test TF acc | test sampled acc | r_loss | KL bits | ELBO |"
echo "|---|---|---|---|---|---|"
for name in magenta-music_vae_train ours-magenta-init ours-default; do
  model="$WORK/$name/model.safetensors"
  [ "$name" = magenta-music_vae_train ] || model="$(step_file "$WORK/$name")"
  build/bin/evaluate --checkpoint "$model" --data "$WORK/shards16" --split test --json "$WORK/$name-test.json" \
    >"$WORK/$name-evaluate.log" 2>&1 || fail "evaluate ($name)" "$WORK/$name-evaluate.log"
  python3 - "$name" "$WORK/$name-test.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))["overall"]
print(f"| {sys.argv[1]} | {j['teacher_forced_accuracy']:.3f} | {j['free_running_accuracy']:.3f} | "
      f"{j['r_loss_nats']:.1f} | {j['kl_bits']:.1f} | {j['elbo_nats']:.1f} |")
EOF
done
(cd "$WORK" && "$OLDPWD/build/bin/evaluate" --curve magenta-music_vae_train --curve ours-magenta-init \
  --curve ours-default --curve-out "$WORK/curves.svg" >/dev/null)
echo "(config $CONFIG at $SIZES, batch $BATCH, $STEPS steps; curves: $WORK/curves.svg; logs in $WORK)"
