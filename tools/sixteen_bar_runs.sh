#!/usr/bin/env bash
# Issue 23's two 16-bar models to convergence, started (or continued) in the background:
# hierarchical and flat decoders with the same encoder, latent and decoder sizes, the same
# recipe (Magenta's initialisation, LSTM bias rate 1x, teacher forcing or a sampling schedule),
# batch and step budget, each stopped by early stopping on the validation ELBO. One core each.
# docs/results.md section 4 reports them.
#
#   bash tools/sixteen_bar_runs.sh [--runs DIR] [--data DIR] [--recipe tf|ss] [--steps N] [--early-stop K]
#
# Run it again (after the machine restarted, or in a new session) to continue both runs from
# their last checkpoints: train --resume continues a run that has checkpoints and starts one that
# has none. Logs: DIR/NAME.log; progress: DIR/NAME/metrics.jsonl.
# --recipe ss: Magenta's drum schedule (inverse sigmoid, rate 1000: the sampling probability rises
# through 0.5 at step ~6,900), runs named r16-{hier,flat}-ss instead of -tf.
#
# Needs: build/ and MVAE_GROOVE_ZIP (the shards are made from it when DIR/../shards16 is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=runs
DATA=""
RECIPE=tf
STEPS=30000
EARLY_STOP=8
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --recipe) RECIPE="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --early-stop) EARLY_STOP="$2"; shift 2 ;;
    *) echo "sixteen_bar_runs: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$RECIPE" in
  tf) SCHEDULE=(--sampling-rate 0) ;;
  ss) SCHEDULE=(--sampling-schedule inverse_sigmoid --sampling-rate 1000) ;;
  *) echo "sixteen_bar_runs: --recipe is tf or ss, got $RECIPE" >&2; exit 2 ;;
esac
mkdir -p "$RUNS"
DATA="${DATA:-$RUNS/../shards16}"
if [ ! -f "$DATA/manifest.json" ]; then
  ZIP="${MVAE_GROOVE_ZIP:?set MVAE_GROOVE_ZIP to the Groove zip (or give --data with 16-bar shards)}"
  build/bin/preprocess --groove "$ZIP" --out "$DATA" --bars 16
fi
SIZES=(--enc 256 --enc-layers 1 --z 256 --dec 256 --dec-layers 2 --encoder-input roll)
COMMON=(--data "$DATA" --init magenta --lstm-bias-lr-scale 1 "${SCHEDULE[@]}" --batch 64 --steps "$STEPS"
        --threads 1 --log-every 50 --eval-every 250 --checkpoint-every 250 --keep-checkpoints 2
        --early-stop "$EARLY_STOP" --best-metric elbo --seed 1 --resume)
start() {  # name, core, options...
  local name="$1" core="$2"
  shift 2
  echo "sixteen_bar_runs: $name on core $core, log $RUNS/$name.log"
  nohup nice -n 10 taskset -c "$core" build/bin/train --run "$RUNS/$name" "${COMMON[@]}" "$@" \
    >>"$RUNS/$name.log" 2>&1 &
}
start "r16-hier-$RECIPE" 0 --preset hierdec-drums_16bar --cond 256 --cond-layers 2 "${SIZES[@]}"
start "r16-flat-$RECIPE" 1 --preset flat-drums_16bar "${SIZES[@]}"
