#!/usr/bin/env bash
# Builds the project and runs the whole test suite (CTest), then the MIDI-reader fuzzer briefly.
# The Groove dataset tests run when MVAE_GROOVE_ZIP names the zip (skipped otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$JOBS"
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)
if command -v clang++ >/dev/null; then
  CXX=clang++ cmake -S . -B build-fuzz -DMVAE_FUZZ_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j "$JOBS" --target midi_reader_fuzz >/dev/null
  mkdir -p build-fuzz/corpus
  ./build-fuzz/bin/midi_reader_fuzz -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=1 \
    build-fuzz/corpus tests/fuzz/corpus 2>&1 | grep -E "^(Done|stat::number_of_executed_units|==.*ERROR)" || true
  [ -z "$(ls build-fuzz/crash-* 2>/dev/null)" ] || { echo "fuzzer found a crash"; exit 1; }
fi
