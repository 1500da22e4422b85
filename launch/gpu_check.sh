#!/usr/bin/env bash
# The GPU run as one command, for a machine with an NVIDIA GPU, PyTorch (CUDA) and no internet:
# builds the project against the PyTorch there, runs the test suite and the GPU tests CI skips,
# benchmarks against the plain-PyTorch reference, and writes one report (report.md + report.json).
#
#   bash launch/gpu_check.sh [--out DIR] [--debs DIR] [--data ZIP] [--jobs N] [--skip-build] [--skip-tests] [--skip-bench]
#   bash launch/gpu_check.sh --fetch-debs DIR       # on a Debian 12 machine with apt: the packages to carry
#   bash launch/gpu_check.sh --unpack-debs DIR --prefix P   # only unpack carried packages (tested in CI)
#   bash launch/gpu_check.sh --report DIR           # only (re)write DIR/report.md from DIR's results (tested in CI)
#
# HDF5, Boost.Program_options, OpenMPI, GoogleTest, libzip and nlohmann-json come from the machine
# when it has them, else from Debian packages carried in --debs (default .deb/) and unpacked with
# `dpkg -x` under the build folder (never over /). docs/benchmarks.md says what was run and seen.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

OUT="${OUT:-$ROOT/gpu-report}"   # the device tool's $OUT when set
DEBS="$ROOT/.deb"
DATA="${MVAE_GROOVE_ZIP:-}"
BUILD="$ROOT/build-gpu"
JOBS="$(nproc)"
SKIP_BUILD=0 SKIP_TESTS=0 SKIP_BENCH=0
MODE=run
PREFIX=""
# Debian 12 packages that provide the headers and libraries the build needs (and their runtime
# dependencies the GPU image may lack).
CARRIED_PACKAGES=(
  libhdf5-dev libhdf5-103-1 libsz2 libaec0 libcurl3-gnutls
  libboost-program-options-dev libboost-program-options1.74-dev libboost-program-options1.74.0 libboost1.74-dev
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libevent-core-2.1-7 libevent-pthreads-2.1-7 libhwloc15 libpmix2 libfabric1 libucx0 libmunge2 libpsm2-2 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200
  libgtest-dev libzip-dev libzip4 nlohmann-json3-dev
)

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_check: $1" >&2; exit "${2:-1}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
    --debs) DEBS="${2:?--debs needs a folder}"; shift 2 ;;
    --data) DATA="${2:?--data needs the Groove zip}"; shift 2 ;;
    --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    --build) BUILD="${2:?--build needs a folder}"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --skip-tests) SKIP_TESTS=1; shift ;;
    --skip-bench) SKIP_BENCH=1; shift ;;
    --fetch-debs) MODE=fetch; DEBS="${2:?--fetch-debs needs a folder}"; shift 2 ;;
    --unpack-debs) MODE=unpack; DEBS="${2:?--unpack-debs needs a folder}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
    --report) MODE=report; OUT="${2:?--report needs a folder}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" 2 ;;
  esac
done
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, got '$JOBS'" 2

# Downloads the carried packages (run where apt works: this project's CPU machine).
fetch_debs() {
  mkdir -p "$DEBS"
  (cd "$DEBS" && apt-get download "${CARRIED_PACKAGES[@]}")
  echo "gpu_check: $(ls "$DEBS"/*.deb | wc -l) packages, $(du -sh "$DEBS" | cut -f1), in $DEBS (carry it: run's carry [\".deb\"])"
}

# Unpacks every .deb of $DEBS under $PREFIX and writes $PREFIX/env.sh, which points the compiler,
# CMake, the linker and OpenMPI at them.
unpack_debs() {
  [ -n "$PREFIX" ] || die "--unpack-debs needs --prefix" 2
  local debs=("$DEBS"/*.deb)
  [ -e "${debs[0]}" ] || die "no .deb files in $DEBS (make them with --fetch-debs on a machine with apt)"
  mkdir -p "$PREFIX"
  for deb in "${debs[@]}"; do dpkg -x "$deb" "$PREFIX" || die "cannot unpack $deb"; done
  local arch_lib="$PREFIX/usr/lib/x86_64-linux-gnu"
  # Debian names OpenMPI's programs through update-alternatives, which dpkg -x does not run.
  for tool in mpirun mpiexec mpicxx mpicc; do
    [ -e "$PREFIX/usr/bin/$tool.openmpi" ] && ln -sf "$tool.openmpi" "$PREFIX/usr/bin/$tool"
  done
  cat > "$PREFIX/env.sh" <<EOF
# Written by launch/gpu_check.sh: the carried Debian packages unpacked under $PREFIX.
export CPATH="$PREFIX/usr/include:$PREFIX/usr/include/hdf5/serial\${CPATH:+:\$CPATH}"
export LIBRARY_PATH="$arch_lib:$arch_lib/hdf5/serial\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$arch_lib:$arch_lib/hdf5/serial:$arch_lib/openmpi/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="$PREFIX/usr/bin:\$PATH"
export OPAL_PREFIX="$PREFIX/usr"      # OpenMPI relocated: its wrappers and mpirun look here
export PKG_CONFIG_PATH="$arch_lib/pkgconfig:$PREFIX/usr/share/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}"
export CMAKE_PREFIX_PATH="$PREFIX/usr\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
export MVAE_DEPS_CMAKE_ARGS="-DHDF5_C_INCLUDE_DIR=$PREFIX/usr/include/hdf5/serial -DHDF5_C_LIBRARY_hdf5=$arch_lib/hdf5/serial/libhdf5.so -DMPI_CXX_COMPILER=$PREFIX/usr/bin/mpicxx.openmpi -DBoost_INCLUDE_DIR=$PREFIX/usr/include -DGTest_DIR=$arch_lib/cmake/GTest"
EOF
  echo "gpu_check: unpacked ${#debs[@]} packages under $PREFIX ($PREFIX/env.sh)"
}

# One line of results: `record KEY VALUE` appends to $OUT/results.tsv (the report is made from it).
record() { printf '%s\t%s\n' "$1" "$2" >> "$OUT/results.tsv"; }

# report.md and report.json from $OUT/results.tsv (and the benchmark lines in $OUT/bench.jsonl).
write_report() {
  [ -f "$OUT/results.tsv" ] || die "no results in $OUT (results.tsv)"
  python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
results = {}
for line in open(os.path.join(out, "results.tsv")):
    key, _, value = line.rstrip("\n").partition("\t")
    results[key] = value
bench = []
bench_path = os.path.join(out, "bench.jsonl")
if os.path.exists(bench_path):
    for line in open(bench_path):
        line = line.strip()
        if line:
            bench.append(json.loads(line))
json.dump({"results": results, "bench": bench}, open(os.path.join(out, "report.json"), "w"), indent=2)
lines = ["# GPU check", ""]
lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in results.items()]
if bench:
    lines += ["", "## Benchmarks (training steps, teacher forcing)", "",
              "| implementation | model | batch | precision | sequences/s | model TFLOP/s | MFU |", "|---|---|---|---|---|---|---|"]
    for b in bench:
        mfu = b.get("mfu")
        lines.append(f"| {b.get('impl', '')} | {b.get('model', '')} | {b.get('batch', '')} | {b.get('precision', '')} | "
                     f"{b.get('seq_per_s', 0):.1f} | {b.get('model_tflops', 0):.2f} | "
                     f"{'' if mfu in (None, 0) else f'{100 * mfu:.1f}%'} |")
open(os.path.join(out, "report.md"), "w").write("\n".join(lines) + "\n")
PY
  echo "gpu_check: wrote $OUT/report.md and $OUT/report.json"
}

case "$MODE" in
  fetch) fetch_debs; exit 0 ;;
  unpack) unpack_debs; exit 0 ;;
  report) write_report; exit 0 ;;
esac

# ---- the GPU run -------------------------------------------------------------------------------
command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q "^GPU" || die "no NVIDIA GPU visible (nvidia-smi -L lists none)" 3
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
  die "$PYTHON has no PyTorch with CUDA (set PYTHON to one that has)" 3
mkdir -p "$OUT"
: > "$OUT/results.tsv"
: > "$OUT/bench.jsonl"
record date "$(date -u +%Y-%m-%dT%H:%MZ)"
record gpu "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
record pytorch "$("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())')"
record commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# Dependencies: the machine's, else the carried packages.
if ! echo '#include <hdf5.h>
#include <boost/program_options.hpp>
#include <mpi.h>' | c++ -E -x c++ - -I/usr/include/hdf5/serial >/dev/null 2>&1; then
  PREFIX="$BUILD/deps"
  unpack_debs
  # shellcheck disable=SC1091
  source "$PREFIX/env.sh"
  record dependencies "carried Debian packages, unpacked under $PREFIX"
else
  record dependencies "the machine's"
fi

TORCH_PREFIX="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ "$SKIP_BUILD" = 0 ]; then
  t0=$SECONDS
  # shellcheck disable=SC2086
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" ${MVAE_DEPS_CMAKE_ARGS:-} \
    | tee "$OUT/configure.log" | grep -E "LibTorch|NCCL|CUDA" || true
  grep -q "NCCL *: linked" "$OUT/configure.log" || die "NCCL is not linked: see $OUT/configure.log"
  cmake --build "$BUILD" -j "$JOBS" > "$OUT/build.log" 2>&1 || die "build failed: see $OUT/build.log"
  record build "$((SECONDS - t0)) s, $JOBS jobs, NCCL linked"
fi
if [ "$SKIP_TESTS" = 0 ]; then
  [ -n "$DATA" ] && export MVAE_GROOVE_ZIP="$DATA"
  t0=$SECONDS
  (cd "$BUILD" && ctest -j "$JOBS" --timeout 900 -E 'Slurm|TwoNodes|^Gpu\.' > "$OUT/tests.log" 2>&1) && status=passed || status=FAILED
  record "test suite" "$status: $(grep -E 'tests passed' "$OUT/tests.log" | tail -1) ($((SECONDS - t0)) s)"
  (cd "$BUILD" && ctest --output-on-failure --timeout 900 -R '^Gpu\.' > "$OUT/gpu-tests.log" 2>&1) && status=passed || status=FAILED
  record "GPU tests" "$status: $(grep -E 'tests passed' "$OUT/gpu-tests.log" | tail -1)"
fi
if [ "$SKIP_BENCH" = 0 ]; then
  gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  # Dense peak TFLOP/s (no sparsity) for model FLOP utilisation: H100 SXM and H200 share them.
  case "$gpu_name" in
    *H100*|*H200*) PEAK_BF16=989; PEAK_TF32=494; PEAK_FP32=67 ;;
    *A100*) PEAK_BF16=312; PEAK_TF32=156; PEAK_FP32=19.5 ;;
    *) PEAK_BF16=0; PEAK_TF32=0; PEAK_FP32=0 ;;
  esac
  bench() {  # bench MODEL BATCH PRECISION bench_model-args...
    local model=$1 batch=$2 precision=$3; shift 3
    local peak=$PEAK_FP32 flags=""
    case "$precision" in bf16) peak=$PEAK_BF16; flags="--bf16" ;; tf32) peak=$PEAK_TF32; flags="--tf32" ;; esac
    # shellcheck disable=SC2086
    "$BUILD/bin/bench_model" --device cuda --batch "$batch" --iters 20 --warmup 3 --peak-tflops "$peak" $flags "$@" |
      tail -1 | "$PYTHON" -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(impl='ours', model='$model', batch=$batch); print(json.dumps(d))" \
      >> "$OUT/bench.jsonl"
  }
  bench_ref() {  # bench_ref MODEL BATCH PRECISION musicvae_ref-args... (the reference: hierarchical, fp32 or TF32)
    local model=$1 batch=$2 precision=$3; shift 3
    local ref="$ROOT/../shared/bench/musicvae_ref.py"
    [ -f "$ref" ] || ref="$ROOT/shared/bench/musicvae_ref.py"
    [ -f "$ref" ] || { record "reference $model" "skipped: musicvae_ref.py not found"; return; }
    local tf32=0
    [ "$precision" = tf32 ] && tf32=1
    TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=$tf32 "$PYTHON" "$ref" --device cuda --batch "$batch" --iters 20 --warmup 3 "$@" 2>/dev/null |
      tail -1 | "$PYTHON" -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(impl='reference (PyTorch eager)', model='$model', batch=$batch, precision='$precision'); print(json.dumps(d))" \
      >> "$OUT/bench.jsonl" || record "reference $model $precision" "failed"
  }
  for precision in fp32 tf32 bf16; do
    bench hierdec-drums_16bar 512 "$precision" --preset hierdec-drums_16bar
    bench cat-drums_2bar_small 512 "$precision" --preset cat-drums_2bar_small
  done
  # The reference has a hierarchical decoder only and no bf16: compared on the 16-bar shapes.
  for precision in fp32 tf32; do
    bench_ref hierdec-drums_16bar 512 "$precision" --bars 16 --enc 2048 --enc-layers 2 --z 512 --cond 1024 --dec 1024
  done
fi
write_report
