#!/usr/bin/env bash
# The whole job on one CPU machine, end to end: install, build, preprocess the Groove MIDI Dataset,
# train a small hierarchical MusicVAE with 2 MPI ranks for a few minutes, evaluate it on the test
# split, then sample, reconstruct and interpolate drum patterns, as MIDI and pictures.
#   bash launch/quickstart.sh [path/to/groove-v1.0.0-midionly.zip]
# Without a path: $MVAE_GROOVE_ZIP, then a download from the dataset's published address.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/quickstart}
STEPS=${STEPS:-600}
URL=https://storage.googleapis.com/magentadata/datasets/groove/groove-v1.0.0-midionly.zip
SHA256=651cbc524ffb891be1a3e46d89dc82a1cecb09a57c748c7b45b844c4841dcc1e

GROOVE=${1:-${MVAE_GROOVE_ZIP:-}}
if [ -z "$GROOVE" ]; then
  GROOVE=$OUT/groove-v1.0.0-midionly.zip
  if [ ! -f "$GROOVE" ]; then
    mkdir -p "$OUT"
    echo "quickstart: downloading the Groove MIDI Dataset from $URL"
    if ! curl -fL --retry 2 -o "$GROOVE.part" "$URL"; then
      echo "quickstart: download failed. Download it yourself from https://magenta.tensorflow.org/datasets/groove"
      echo "            and run: bash launch/quickstart.sh path/to/groove-v1.0.0-midionly.zip"
      exit 1
    fi
    echo "$SHA256  $GROOVE.part" | sha256sum -c - || { echo "quickstart: checksum mismatch"; exit 1; }
    mv "$GROOVE.part" "$GROOVE"
  fi
fi
[ -e "$GROOVE" ] || { echo "quickstart: $GROOVE does not exist"; exit 1; }

bash launch/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target preprocess train generate evaluate

MPI_FLAGS="--oversubscribe"
[ "$(id -u)" -eq 0 ] && MPI_FLAGS="$MPI_FLAGS --allow-run-as-root"
set -x
./build/bin/preprocess --groove "$GROOVE" --out "$OUT/shards" --bars 4 --force
rm -rf "$OUT/run"  # a fresh run each time (train refuses to start a new run over an old one)
mpirun -np 2 $MPI_FLAGS ./build/bin/train --data "$OUT/shards" --run "$OUT/run" \
  --preset hierdec-drums_4bar --enc 256 --z 128 --cond 256 --dec 256 \
  --batch 32 --steps "$STEPS" --log-every 25 --eval-every 100 --eval-windows 256 --checkpoint-every 100 \
  --bucket-mb 4  # this 18 MB model: 8 buckets, most of their all-reduce hidden behind backward
./build/bin/evaluate --checkpoint "$OUT/run" --data "$OUT/shards" --split test --windows 512 --json "$OUT/test-metrics.json"
./build/bin/evaluate --curve "$OUT/run" --curve-out "$OUT/training-curves.svg"
./build/bin/generate sample --checkpoint "$OUT/run" --n 4 --force --out "$OUT/samples" --plot
set +x
# Two test-split performances from the dataset, to reconstruct and interpolate between.
mkdir -p "$OUT/inputs"
if [ -d "$GROOVE" ]; then
  cp "$GROOVE/drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid" "$GROOVE/drummer1/eval_session/10_soul-groove10_102_beat_4-4.mid" "$OUT/inputs/"
else
  unzip -o -j -q "$GROOVE" "groove/drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid" \
    "groove/drummer1/eval_session/10_soul-groove10_102_beat_4-4.mid" -d "$OUT/inputs"
fi
A="$OUT/inputs/1_funk-groove1_138_beat_4-4.mid"
B="$OUT/inputs/10_soul-groove10_102_beat_4-4.mid"
set -x
./build/bin/generate reconstruct --checkpoint "$OUT/run" --input "$A" --force --out "$OUT/reconstruction" --plot
./build/bin/generate interpolate --checkpoint "$OUT/run" --from "$A" --to "$B" --steps 6 --force --out "$OUT/interpolation" --plot
set +x
echo
echo "quickstart: the model above trained for $STEPS steps: it shows the pipeline, not the quality."
echo "quickstart: the models released with the project, no --checkpoint: samples from models/groove_2bar, a reconstruction by its high-KL sibling models/groove_2bar_hikl (MODEL_CARD.md in each):"
set -x
./build/bin/generate sample --n 4 --force --out "$OUT/released/samples" --plot
./build/bin/generate reconstruct --input "$A" --force --out "$OUT/released/reconstruction" --plot
set +x
echo "quickstart: one 16-bar sample from the released 16-bar model (models/groove_16bar/MODEL_CARD.md):"
set -x
./build/bin/generate sample --bars 16 --n 1 --force --out "$OUT/released/sample-16bar" --plot
set +x
echo "quickstart: the released GrooVAE model (models/groovae_2bar_humanize/MODEL_CARD.md) plays the funk groove's score"
echo "            like a drummer (velocities and timing):"
set -x
./build/bin/generate humanize --input "$A" --force --out "$OUT/released/humanized" --plot
set +x
echo
echo "quickstart: done. Shards: $OUT/shards  run (checkpoints, metrics.jsonl): $OUT/run"
echo "            your model's MIDI and piano-roll pictures (*.svg): $OUT/samples  $OUT/reconstruction  $OUT/interpolation"
echo "            the released models': $OUT/released/samples  $OUT/released/reconstruction  $OUT/released/sample-16bar"
echo "                                  $OUT/released/humanized"
echo "            test-split metrics: $OUT/test-metrics.json   training curves: $OUT/training-curves.svg"
