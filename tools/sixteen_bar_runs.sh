#!/usr/bin/env bash
# Issue 23's two 16-bar models to convergence, started (or continued) in the background:
# hierarchical and flat decoders with the same encoder, latent and decoder sizes, the same
# recipe (Magenta's initialisation, LSTM bias rate 1x, teacher forcing or a sampling schedule),
# batch and step budget, each stopped by early stopping on the validation ELBO. One core each.
# docs/results.md section 4 reports them.
#
#   bash tools/sixteen_bar_runs.sh [--runs DIR] [--data DIR] [--recipe tf|ss] [--sampling-rate K] [--branch-from SUFFIX]
#                                  [--steps N] [--early-stop K] [--precision fp32|bf16] [--only hier|flat]
#                                  [--snapshots DIR] [--save-snapshots]
#
# Run it again (after the machine restarted, or in a new session) to continue both runs from
# their last checkpoints: train --resume continues a run that has checkpoints and starts one that
# has none. Logs: DIR/NAME.log; progress: DIR/NAME/metrics.jsonl.
#
# Runs outlive a machine only through git, and a full checkpoint (weights, Adam's moments) is
# 35-46 MB. So at the end of a session --save-snapshots writes each run's latest weights as float16
# (6-8 MB) with its metrics and step count to --snapshots (models/in-training/NAME/), to commit;
# on a machine without the run folders, the runs continue from those snapshots (train --init-from
# at the learning rate the schedule had reached; Adam's moments start again, and each stage's
# metrics.jsonl counts from 0: snapshot.json's steps_before says where the stage started; the snapshot's
# metrics.jsonl joins the stages with the steps counted from the run's start, for evaluate --curve).
# --recipe ss: Magenta's drum schedule (inverse sigmoid, rate 1000: the sampling probability rises
# through 0.5 at step ~6,900), runs named r16-{hier,flat}-ss instead of -tf. --sampling-rate K: another
# inverse-sigmoid rate (through 0.5 at step K ln K: 500 -> 3,107), runs named r16-{hier,flat}-ssK.
# --branch-from SUFFIX: a run with neither checkpoints nor a snapshot of its own starts from the snapshot of
# r16-{hier,flat}-SUFFIX (a schedule changed partway: --recipe ss --sampling-rate 500 --branch-from ss).
# A continued stage passes train --schedule-offset (the steps before it), so its learning-rate and sampling
# schedules go on from the step its snapshot had reached. --only: start (or snapshot) one of the two runs.
#
# --precision bf16: the products in bfloat16 (weights, gradients and Adam stay float32), 1.9x faster on a CPU
# with AMX (docs/benchmarks.md) and level with float32 at equal steps at 2 bars (docs/results.md section 6); both
# runs get the same, so the comparison stays fair. But the hierarchical 16-bar run spiked in bf16 where float32 did
# not (docs/results.md section 4): the default, fp32, is the safer choice for it.
#
# Needs: build/ and MVAE_GROOVE_ZIP (the shards are made from it when DIR/../shards16 is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=runs
DATA=""
RECIPE=tf
STEPS=30000
EARLY_STOP=8
SNAPSHOTS=models/in-training
SAVE=0
PRECISION=fp32
SAMPLING_RATE=1000
BRANCH_FROM=""
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --recipe) RECIPE="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --early-stop) EARLY_STOP="$2"; shift 2 ;;
    --snapshots) SNAPSHOTS="$2"; shift 2 ;;
    --precision) PRECISION="$2"; shift 2 ;;
    --sampling-rate) SAMPLING_RATE="$2"; shift 2 ;;
    --branch-from) BRANCH_FROM="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --save-snapshots) SAVE=1; shift ;;
    *) echo "sixteen_bar_runs: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$RECIPE" in
  tf) SCHEDULE=(--sampling-rate 0) ;;
  ss) SCHEDULE=(--sampling-schedule inverse_sigmoid --sampling-rate "$SAMPLING_RATE") ;;
  *) echo "sixteen_bar_runs: --recipe is tf or ss, got $RECIPE" >&2; exit 2 ;;
esac
if [ "$RECIPE" = ss ] && [ "$SAMPLING_RATE" != 1000 ]; then RECIPE="ss$SAMPLING_RATE"; fi
case "$ONLY" in
  "") NAMES=("r16-hier-$RECIPE" "r16-flat-$RECIPE") ;;
  hier|flat) NAMES=("r16-$ONLY-$RECIPE") ;;
  *) echo "sixteen_bar_runs: --only is hier or flat, got $ONLY" >&2; exit 2 ;;
esac
json_field() {  # file, key -> the value of that top-level key of a JSON file
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
steps_before() {  # snapshot folder name -> the steps of the stages before the run folder's (0 without a snapshot)
  local f="$SNAPSHOTS/$1/snapshot.json"
  if [ -f "$f" ]; then echo $(($(json_field "$f" steps_before) + $(json_field "$f" steps))); else echo 0; fi
}
if [ "$SAVE" = 1 ]; then
  for name in "${NAMES[@]}"; do
    run="$RUNS/$name" out="$SNAPSHOTS/$name"
    latest="$run/checkpoints/$(cat "$run/checkpoints/latest")"
    before=0
    [ -f "$run/continued-from.json" ] && before=$(json_field "$run/continued-from.json" steps_before)
    mkdir -p "$out"
    build/bin/generate export --checkpoint "$latest" --force --out "$out/model.safetensors" --dtype float16 >/dev/null
    cp "$run/metrics.jsonl" "$out/metrics-from-step-$before.jsonl"
    if [ -f "$run/continued-from.json" ]; then  # a branched run's snapshot brings the stages before the branch
      src=$(json_field "$run/continued-from.json" snapshot)
      if [ "$src" != "$out" ]; then
        for stage in "$src"/metrics-from-step-*.jsonl; do
          if [ -f "$stage" ]; then cp -n "$stage" "$out/"; fi
        done
      fi
    fi
    # metrics.jsonl: every stage's records with the steps counted from the run's start, for evaluate --curve.
    python3 - "$out" <<'PY'
import glob, json, os, re, sys
stages = sorted(glob.glob(os.path.join(sys.argv[1], "metrics-from-step-*.jsonl")),
                key=lambda f: int(re.search(r"(\d+)\.jsonl$", f).group(1)))
with open(os.path.join(sys.argv[1], "metrics.jsonl"), "w") as merged:
    for stage in stages:
        before = int(re.search(r"(\d+)\.jsonl$", stage).group(1))
        for line in open(stage):
            record = json.loads(line)
            record["step"] += before
            merged.write(json.dumps(record) + "\n")
PY
    python3 - "$latest/state.json" "$before" "$out/snapshot.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
json.dump({"steps_before": int(sys.argv[2]), "steps": state["step"], "best_step": state["best_step"] + int(sys.argv[2]),
           "best_value": state["best_value"], "options": state["options"]}, open(sys.argv[3], "w"), indent=2)
PY
    echo "sixteen_bar_runs: $out: step $((before + $(json_field "$latest/state.json" step)))"
  done
  exit 0
fi
mkdir -p "$RUNS"
DATA="${DATA:-$RUNS/../shards16}"
if [ ! -f "$DATA/manifest.json" ]; then
  ZIP="${MVAE_GROOVE_ZIP:?set MVAE_GROOVE_ZIP to the Groove zip (or give --data with 16-bar shards)}"
  build/bin/preprocess --groove "$ZIP" --out "$DATA" --bars 16
fi
SIZES=(--enc 256 --enc-layers 1 --z 256 --dec 256 --dec-layers 2 --encoder-input roll)
COMMON=(--data "$DATA" --precision "$PRECISION" --lstm-bias-lr-scale 1 "${SCHEDULE[@]}" --batch 64 --steps "$STEPS"
        --threads 1 --log-every 50 --eval-every 250 --checkpoint-every 250 --keep-checkpoints 2
        --early-stop "$EARLY_STOP" --best-metric elbo --seed 1 --resume)
start() {  # name, core, options...
  local name="$1" core="$2" first=(--init magenta) source="$1"
  shift 2
  if [ -n "$BRANCH_FROM" ] && [ ! -f "$SNAPSHOTS/$name/model.safetensors" ]; then source="${name%-*}-$BRANCH_FROM"; fi
  if [ ! -f "$RUNS/$name/checkpoints/latest" ] && [ ! -f "$RUNS/$name/continued-from.json" ] &&
     [ -f "$SNAPSHOTS/$source/model.safetensors" ]; then
    mkdir -p "$RUNS/$name"
    echo "{\"steps_before\": $(steps_before "$source"), \"snapshot\": \"$SNAPSHOTS/$source\"}" >"$RUNS/$name/continued-from.json"
  fi
  if [ -f "$RUNS/$name/continued-from.json" ]; then
    local before snapshot
    before=$(json_field "$RUNS/$name/continued-from.json" steps_before)
    snapshot=$(json_field "$RUNS/$name/continued-from.json" snapshot)
    # Every start of a continued stage, its resumes too, passes --schedule-offset: the learning-rate and sampling
    # schedules go on from step `before`. --init-from counts only while the stage has no checkpoint.
    # A fresh Adam at the rate reached spiked the hierarchical run (loss 471 -> 773 at stage step 200), so a stage warms
    # its rate up over 500 steps while Adam's second moments fill; that moved the spike to step ~650 rather than
    # preventing it. The cause is bfloat16: the same stage in float32 did not spike (docs/results.md section 4).
    first=(--init-from "$snapshot/model.safetensors" --schedule-offset "$before" --lr-warmup-steps 500)
    echo "sixteen_bar_runs: $name continues from $snapshot (step $before)"
  fi
  echo "sixteen_bar_runs: $name on core $core, log $RUNS/$name.log"
  nohup nice -n 10 taskset -c "$core" build/bin/train --run "$RUNS/$name" "${COMMON[@]}" "${first[@]}" "$@" \
    >>"$RUNS/$name.log" 2>&1 &
}
[ "$ONLY" != flat ] && start "r16-hier-$RECIPE" 0 --preset hierdec-drums_16bar --cond 256 --cond-layers 2 "${SIZES[@]}"
[ "$ONLY" != hier ] && start "r16-flat-$RECIPE" 1 --preset flat-drums_16bar "${SIZES[@]}"
exit 0
