#!/usr/bin/env bash
# Makes a release of a trained run: its best checkpoint exported with float16 weights, the test-split
# metrics of the export (teacher-forced and sampled at temperature 1, overall and per style), and a
# picture of samples from it. The model card (MODEL_CARD.md) is written by hand from these.
#   bash tools/release_model.sh runs/NAME shards2/ models/NAME
set -euo pipefail
RUN=${1:?run folder}; SHARDS=${2:?shard folder}; OUT=${3:?release folder}
BIN=${BIN:-build/bin}
mkdir -p "$OUT"
"$BIN/generate" export --checkpoint "$RUN" --best --force --out "$OUT/model.safetensors" --dtype float16
"$BIN/evaluate" --checkpoint "$OUT/model.safetensors" --data "$SHARDS" --split test --temperature 1 --json "$OUT/test-metrics.json"
"$BIN/evaluate" --checkpoint "$RUN" --best --data "$SHARDS" --split test --temperature 1 --json "$OUT/test-metrics-float32.json" | sed -n 3p
"$BIN/evaluate" --curve "$RUN" --curve-out "$OUT/training-curves.svg"
tmp=$(mktemp -d)
"$BIN/generate" sample --checkpoint "$OUT/model.safetensors" --n 4 --temperature 0.5 --out "$tmp" --plot >/dev/null
cp "$tmp/sample.svg" "$OUT/samples.svg"
rm -rf "$tmp"
ls -la "$OUT"
