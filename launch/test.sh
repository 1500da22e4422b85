#!/usr/bin/env bash
# Builds the project and runs the whole test suite (CTest), then the fuzzers of the file readers briefly.
# The Groove dataset tests run when MVAE_GROOVE_ZIP names the zip (skipped otherwise).
#   bash launch/test.sh            against the system LibTorch (Debian's 1.13, CPU), in build/
#   bash launch/test.sh --torch2   against PyTorch's CUDA LibTorch 2.x (launch/setup.sh --torch2), in
#                                  build-torch2/: every program built with CUDA and NCCL, the suite run
#                                  on the CPU (the SLURM and two-node tests, which test launch scripts
#                                  rather than LibTorch, and the Magenta ones, which test the
#                                  checkpoint conversion rather than LibTorch, run in the first build only)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
# A fresh build folder has no test times yet: seed them (tools/ctest_cost_seed.sh), so ctest starts the longest
# tests first rather than in declaration order (the Magenta ones, declared last, would finish alone).
seed_test_costs() {
  [ -f "$1/Testing/Temporary/CTestCostData.txt" ] && return 0
  mkdir -p "$1/Testing/Temporary" && cp tests/ctest_costs.txt "$1/Testing/Temporary/CTestCostData.txt"
}
# The tests against Magenta's own code (tests/magenta_test.cpp) run with launch/setup.sh --magenta's environment.
if [ -z "${MVAE_MAGENTA_PYTHON:-}" ] && [ -x "${MVAE_MAGENTA_VENV:-$PWD/.venv-magenta}/bin/python" ]; then
  export MVAE_MAGENTA_PYTHON="${MVAE_MAGENTA_VENV:-$PWD/.venv-magenta}/bin/python"
fi
if [ "${1:-}" = "--torch2" ]; then
  VENV="${MVAE_TORCH2_VENV:-$PWD/.venv-torch2}"
  PREFIX="$("$VENV/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)" ||
    { echo "test: no PyTorch in $VENV: run bash launch/setup.sh --torch2 first" >&2; exit 2; }
  cmake -S . -B build-torch2 -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" -DMVAE_CLUSTER_TESTS=OFF | tee build-torch2.configure.log
  # The cluster build: the GPU communicator must be linked, not only compile-checked.
  grep -q "NCCL *: linked" build-torch2.configure.log ||
    { echo "test: NCCL is not linked in build-torch2 (needs the CUDA toolkit and NCCL, e.g. /usr/local/cuda)" >&2; exit 1; }
  cmake --build build-torch2 -j "$JOBS"
  echo "test: build-torch2 built in $SECONDS s"
  seed_test_costs build-torch2
  (cd build-torch2 && ctest --output-on-failure -j "$JOBS" --timeout 900 -E 'Slurm|TwoNodes|MagentaInterop')
  exit 0
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$JOBS"
echo "test: build built in $SECONDS s"
seed_test_costs build
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)
# The libFuzzer targets of the readers of files from strangers (tests/fuzz/), each for $FUZZ_SECONDS
# (30 by default) from its seed corpus: MIDI files, TensorFlow checkpoints (magenta import), model files.
if command -v clang++ >/dev/null; then
  CXX=clang++ cmake -S . -B build-fuzz -DMVAE_FUZZ_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j "$JOBS" --target midi_reader_fuzz tf_checkpoint_fuzz model_file_fuzz >/dev/null
  for target in midi_reader:corpus tf_checkpoint:corpus_tf_checkpoint model_file:corpus_model_file; do
    name=${target%%:*}_fuzz seeds=tests/fuzz/${target#*:}
    mkdir -p "build-fuzz/corpus-$name"
    echo "fuzz: $name for ${FUZZ_SECONDS:-30} s"
    (cd build-fuzz && "./bin/$name" -max_total_time="${FUZZ_SECONDS:-30}" -print_final_stats=1 \
      "corpus-$name" "../$seeds" 2>&1 | grep -E "^(Done|stat::number_of_executed_units|==.*ERROR)" || true)
  done
  [ -z "$(ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* build-fuzz/oom-* 2>/dev/null)" ] ||
    { echo "a fuzzer found a crash: build-fuzz/"; exit 1; }
fi
