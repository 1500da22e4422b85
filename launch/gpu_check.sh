#!/usr/bin/env bash
# The GPU run as one command, for a machine with an NVIDIA GPU, PyTorch (CUDA) and no internet:
# builds the project against the PyTorch there, runs the GPU tests CI skips, measures the input
# pipeline, checks that two ranks on one GPU are refused, benchmarks our training step against the
# plain-PyTorch reference, and writes one report (report.md + report.json) whatever fails on the way.
#
#   bash launch/gpu_check.sh [--out DIR] [--debs DIR] [--data ZIP] [--jobs N] [--phases LIST] [--full-suite]
#                            [--skip-build] [--build DIR] [--deadline SECONDS] [--cpu]
#   bash launch/gpu_check.sh --fetch-debs DIR       # on a Debian 12 machine with apt: the packages to carry
#   bash launch/gpu_check.sh --unpack-debs DIR --prefix P   # only unpack carried packages (tested in CI)
#   bash launch/gpu_check.sh --report DIR           # only (re)write DIR/report.md from DIR's results (tested in CI)
#
# Phases (--phases, comma-separated; all by default, in this order): build, gpu-tests, suite, data,
# loader, nccl-refusal, bench, reference. Each has a time limit, its log in DIR/logs/, and a line in
# the report with its status and seconds; a phase that fails does not stop the others, and none
# runs past --deadline (480 s: the whole run in 8 minutes). --cpu runs the same phases without a
# GPU (the CPU-only path: phase times and the report; GPU items skipped).
# --full-suite: the whole CTest suite in `suite` (default: the in-process tests, the rest is CI's).
#
# HDF5, Boost.Program_options, OpenMPI, GoogleTest, libzip and nlohmann-json come from the machine
# when it has them, else from Debian packages carried in --debs (default .deb/) and unpacked with
# `dpkg -x` under the build folder (never over /). docs/gpu.md says what to run and how to read it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

OUT="${OUT:-$ROOT/gpu-report}"   # the device tool's $OUT when set
DEBS="$ROOT/.deb"
DATA="${MVAE_GROOVE_ZIP:-}"
[ -z "$DATA" ] && [ -f "$ROOT/shared/data/groove-v1.0.0-midionly.zip" ] && DATA="$ROOT/shared/data/groove-v1.0.0-midionly.zip"
BUILD="$ROOT/build-gpu"
JOBS="$(nproc)"
SKIP_BUILD=0 FULL_SUITE=0 CPU=0
DEADLINE=480  # seconds for the whole run: 8 minutes
PHASES="build,gpu-tests,suite,data,loader,nccl-refusal,bench,reference"
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

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_check: $1" >&2; exit "${2:-1}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
    --debs) DEBS="${2:?--debs needs a folder}"; shift 2 ;;
    --data) DATA="${2:?--data needs the Groove zip}"; shift 2 ;;
    --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    --build) BUILD="${2:?--build needs a folder}"; shift 2 ;;
    --phases) PHASES="${2:?--phases needs a list}"; shift 2 ;;
    --deadline) DEADLINE="${2:?--deadline needs seconds}"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --full-suite) FULL_SUITE=1; shift ;;
    --cpu) CPU=1; shift ;;
    --fetch-debs) MODE=fetch; DEBS="${2:?--fetch-debs needs a folder}"; shift 2 ;;
    --unpack-debs) MODE=unpack; DEBS="${2:?--unpack-debs needs a folder}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
    --report) MODE=report; OUT="${2:?--report needs a folder}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" 2 ;;
  esac
done
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, got '$JOBS'" 2
[[ "$DEADLINE" =~ ^[1-9][0-9]*$ ]] || die "--deadline must be a positive number of seconds, got '$DEADLINE'" 2
for p in ${PHASES//,/ }; do
  case "$p" in build|gpu-tests|suite|data|loader|nccl-refusal|bench|reference) ;;
    *) die "unknown phase '$p' in --phases (build, gpu-tests, suite, data, loader, nccl-refusal, bench, reference)" 2 ;;
  esac
done
[ "$SKIP_BUILD" = 1 ] && PHASES="$(echo ",$PHASES," | sed 's/,build,/,/; s/^,//; s/,$//')"

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

# report.md and report.json from $OUT: results.tsv, phases.tsv, and the JSON lines of the
# benchmarks (bench.jsonl), the loader (loader.jsonl) and the GPU tests (gpu-tests.tsv).
write_report() {
  [ -f "$OUT/results.tsv" ] || die "no results in $OUT (results.tsv)"
  python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
def tsv(name):
    path = os.path.join(out, name)
    rows = []
    if os.path.exists(path):
        for line in open(path):
            if line.strip():
                rows.append(line.rstrip("\n").split("\t"))
    return rows
def jsonl(name):
    path = os.path.join(out, name)
    return [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []
results = {k: (v[0] if v else "") for k, *v in tsv("results.tsv")}
phases = [{"phase": r[0], "status": r[1], "seconds": int(r[2]), "limit_s": int(r[3])} for r in tsv("phases.tsv")]
gpu_tests = [{"test": r[0], "status": r[1], "seconds": r[2]} for r in tsv("gpu-tests.tsv")]
bench, loader = jsonl("bench.jsonl"), jsonl("loader.jsonl")
json.dump({"results": results, "phases": phases, "gpu_tests": gpu_tests, "bench": bench, "loader": loader},
          open(os.path.join(out, "report.json"), "w"), indent=2)
lines = ["# GPU check", ""]
lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in results.items()]
if phases:
    total = sum(p["seconds"] for p in phases)
    lines += ["", f"## Phases ({total} s in all; logs in logs/)", "", "| phase | status | seconds | limit |", "|---|---|---|---|"]
    lines += [f"| {p['phase']} | {p['status']} | {p['seconds']} | {p['limit_s']} |" for p in phases]
if gpu_tests:
    lines += ["", "## GPU tests", "", "| test | status | seconds |", "|---|---|---|"]
    lines += [f"| {t['test']} | {t['status']} | {t['seconds']} |" for t in gpu_tests]
if loader:
    lines += ["", "## Input pipeline (bench_loader, batch 512, resident windows; model input made on the device)", "",
              "| preset | bars | batches of | windows/s per rank | with the model's input on the device | this GPU needs at 30% MFU | margin |",
              "|---|---|---|---|---|---|---|"]
    for r in loader:
        lines.append(f"| {r.get('preset', '')} | {r['bars']} | {'groove' if r['groove'] else 'tokens'} | {r['windows_per_s_per_rank']:,.0f} | "
                     f"{r['with_model_input_per_s']:,.0f} | {r.get('gpu_windows_per_s', 0):,.0f} | {r.get('margin', 0):.1f}x |")
if bench:
    lines += ["", "## Benchmarks (training steps; decoding: teacher-forced, or scheduled sampling's path at p = 0.5)", "",
              "| implementation | model | batch | precision | decoding | sequences/s | tokens/s | model TFLOP/s | MFU |", "|---|---|---|---|---|---|---|---|---|"]
    for b in bench:
        mfu = b.get("mfu")
        tokens = b.get("tokens_per_s") or 0
        lines.append(f"| {b.get('impl', '')} | {b.get('model', '')} | {b.get('batch', '')} | {b.get('precision', '')} | "
                     f"{b.get('decoding', 'teacher-forced')} | {b.get('seq_per_s', 0):.1f} | {tokens:,.0f} | {b.get('model_tflops', 0):.2f} | "
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

# ---- the run ------------------------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [ "$CPU" = 0 ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q "^GPU" ||
    die "no NVIDIA GPU visible (nvidia-smi -L lists none; --cpu runs the phases without one)" 3
  "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
    die "$PYTHON has no PyTorch with CUDA (set PYTHON to one that has)" 3
  DEVICE=cuda
  GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  GPUS="$(nvidia-smi -L | grep -c '^GPU')"
else
  DEVICE=cpu GPU_NAME=none GPUS=0
fi
mkdir -p "$OUT/logs"
for f in results.tsv phases.tsv bench.jsonl loader.jsonl gpu-tests.tsv; do : > "$OUT/$f"; done
trap 'write_report' EXIT  # the report is written whatever fails
record date "$(date -u +%Y-%m-%dT%H:%MZ)"
if [ "$DEVICE" = cuda ]; then
  record gpu "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1) ($GPUS visible)"
else
  record gpu "none: --cpu, the CPU-only path (GPU items skipped)"
fi
record pytorch "$("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())' 2>/dev/null || echo "not importable by $PYTHON")"
record commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Dense peak TFLOP/s (no sparsity), for model FLOP utilisation; H100 SXM and H200 share them. The
# loader is compared with what this GPU would consume at 30% of its bf16 peak (an A100's on the CPU).
case "$GPU_NAME" in
  *H100*|*H200*) PEAK_BF16=989; PEAK_TF32=494; PEAK_FP32=67 ;;
  *A100*) PEAK_BF16=312; PEAK_TF32=156; PEAK_FP32=19.5 ;;
  *) PEAK_BF16=0; PEAK_TF32=0; PEAK_FP32=0 ;;
esac
LOADER_PEAK=$PEAK_BF16
[ "$LOADER_PEAK" = 0 ] && LOADER_PEAK=312

# Dependencies: the machine's, else the carried packages.
if ! echo '#include <hdf5.h>
#include <boost/program_options.hpp>
#include <mpi.h>' | c++ -E -x c++ - -I/usr/include/hdf5/serial -I/usr/lib/x86_64-linux-gnu/openmpi/include >/dev/null 2>&1; then
  if [ -d "$DEBS" ]; then
    PREFIX="$BUILD/deps"
    unpack_debs
    # shellcheck disable=SC1091
    source "$PREFIX/env.sh"
    record dependencies "carried Debian packages, unpacked under $PREFIX"
  else
    record dependencies "MISSING: no HDF5/Boost/MPI headers and no carried packages in $DEBS (--fetch-debs)"
  fi
else
  record dependencies "the machine's"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HDF5_USE_FILE_LOCKING=FALSE
[ -n "$DATA" ] && export MVAE_GROOVE_ZIP="$DATA"  # the tests on real windows (Gpu.Bf16TrainingOnGrooveWindowsLearns)
export ROOT OUT BUILD JOBS DATA DEVICE GPUS PYTHON FULL_SUITE PEAK_BF16 PEAK_TF32 PEAK_FP32 LOADER_PEAK

# ---- the phases: each runs in a shell of its own (exit 77 = skipped, with the reason last) -------
phase_build() {
  local torch_prefix targets=(train evaluate preprocess bench_model bench_loader train_mpi_tests)
  # PyTorch's LibTorch; on the CPU-only path without it, the system's (Debian's libtorch-dev).
  torch_prefix="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)" ||
    { [ "$DEVICE" = cpu ] || { echo "$PYTHON has no PyTorch"; exit 1; }; torch_prefix=""; }
  # shellcheck disable=SC2086
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release ${torch_prefix:+-DCMAKE_PREFIX_PATH="$torch_prefix"} ${MVAE_DEPS_CMAKE_ARGS:-} |
    tee "$OUT/logs/configure.log"
  if [ "$DEVICE" = cuda ] && ! grep -q "NCCL *: linked" "$OUT/logs/configure.log"; then echo "NCCL is not linked: see logs/configure.log"; exit 1; fi
  [ "$FULL_SUITE" = 1 ] && targets=(all)
  cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
  record build "$JOBS jobs, targets: ${targets[*]}; $(grep -Eo 'NCCL *: [a-z-]+' "$OUT/logs/configure.log" | head -1 | tr -s ' ')"
}
# ctest's lines "Test #N: NAME .... Passed 1.23 sec" as NAME<TAB>STATUS<TAB>SECONDS.
ctest_rows() { sed -nE 's/.*Test +#[0-9]+: ([A-Za-z0-9_.]+) \.+[* ]*([A-Za-z]+)[^0-9]*([0-9.]+) sec.*/\1\t\2\t\3/p' "$1"; }
phase_gpu_tests() {
  local rc=0
  (cd "$BUILD" && ctest --output-on-failure --timeout 300 -R '^Gpu\.') > "$OUT/logs/gpu-tests.ctest" 2>&1 || rc=$?
  cat "$OUT/logs/gpu-tests.ctest"
  ctest_rows "$OUT/logs/gpu-tests.ctest" >> "$OUT/gpu-tests.tsv"
  [ "$DEVICE" = cuda ] || { echo "no GPU: the Gpu.* tests skip themselves"; exit 77; }
  exit "$rc"
}
phase_suite() {
  # Default: what the build phase built, less the multi-process trainer runs (CI's on the CPU).
  local rc=0 args=(-j "$JOBS" --timeout 300 -E '^(Gpu|TrainMpi|GrooveTraining)\.|Slurm|TwoNodes')
  [ "$FULL_SUITE" = 1 ] && args=(-j "$JOBS" --timeout 900 -E 'Slurm|TwoNodes|^Gpu\.')
  (cd "$BUILD" && ctest "${args[@]}") || rc=$?
  exit "$rc"
}
phase_data() {
  [ -n "$DATA" ] || { echo "no Groove zip: --data ZIP, or shared/data/groove-v1.0.0-midionly.zip in the checkout"; exit 77; }
  for bars in 2 16; do "$BUILD/bin/preprocess" --groove "$DATA" --out "$BUILD/shards$bars" --bars "$bars" --force; done
}
phase_loader() {
  [ -d "$BUILD/shards2" ] && [ -d "$BUILD/shards16" ] || { echo "no shards: the data phase makes them"; exit 77; }
  local pin=()
  [ "$DEVICE" = cuda ] && pin=(--pin)
  for spec in "2 cat-drums_2bar_small" "2 groovae_2bar_humanize" "16 hierdec-drums_16bar"; do
    set -- $spec
    "$BUILD/bin/bench_loader" --data "$BUILD/shards$1" --preset "$2" --batch 512 --batches 200 --device "$DEVICE" "${pin[@]}" \
      --peak-tflops "$LOADER_PEAK" --mfu 0.3 | tail -1 | tee -a "$OUT/loader.jsonl"
  done
}
phase_nccl_refusal() {
  [ "$DEVICE" = cuda ] || { echo "no GPU"; exit 77; }
  [ "$GPUS" = 1 ] || { echo "$GPUS GPUs: Gpu.TwoRanksUseTwoGpusOrAreRefusedOnOne checks two ranks on two"; exit 77; }
  [ -d "$BUILD/shards2" ] || { echo "no shards: the data phase makes them"; exit 77; }
  local out rc=0
  out="$(mpirun --oversubscribe -np 2 "$BUILD/bin/train" --data "$BUILD/shards2" --preset tiny --run "$BUILD/refusal-run" \
    --steps 1 --device cuda 2>&1)" || rc=$?
  echo "$out"
  local message
  message="$(grep -m1 -o "[0-9]* ranks on this node but [0-9]* GPUs visible[^\"]*" <<<"$out" || true)"
  [ "$rc" != 0 ] && [ -n "$message" ] || { echo "two ranks on one GPU were not refused with the reason (exit $rc)"; exit 1; }
  record "2 ranks on 1 GPU" "refused (exit $rc): $message"
}
phase_bench() {
  local iters=(--iters 20 --warmup 3) big=(--iters 5 --warmup 2) batch=512
  [ "$DEVICE" = cpu ] && { iters=(--iters 1 --warmup 1); big=(--iters 1 --warmup 1); batch=8; }  # the phase's plumbing only
  bench() {  # bench MODEL PRECISION ITER-ARGS...
    local model=$1 precision=$2 peak=$PEAK_FP32 flags=(); shift 2
    case "$precision" in bf16) peak=$PEAK_BF16; flags=(--bf16) ;; tf32) peak=$PEAK_TF32; flags=(--tf32) ;; esac
    "$BUILD/bin/bench_model" --device "$DEVICE" --batch "$batch" --peak-tflops "$peak" "${flags[@]}" --preset "$model" "$@" | tail -1 |
      "$PYTHON" -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(impl='ours', model='$model', batch=$batch); print(json.dumps(d))" |
      tee -a "$OUT/bench.jsonl"
  }
  for precision in fp32 tf32 bf16; do
    bench hierdec-drums_16bar "$precision" "${big[@]}"
    bench cat-drums_2bar_small "$precision" "${iters[@]}"
  done
  # Scheduled sampling's two ways on the GPU (the trainer takes two-pass there; docs/benchmarks.md).
  for path in two-pass stepwise-graph; do
    bench hierdec-drums_16bar bf16 "${big[@]}" --sampling-probability 0.5 --sampling-path "$path"
  done
}
phase_reference() {
  local ref="$ROOT/shared/bench/musicvae_ref.py" batch=512 iters=(--iters 5 --warmup 2)
  [ -f "$ref" ] || ref="$ROOT/../shared/bench/musicvae_ref.py"
  [ -f "$ref" ] || { echo "musicvae_ref.py not found (shared/bench/ in the checkout, or ../shared/bench/)"; exit 77; }
  "$PYTHON" -c 'import torch' 2>/dev/null || { echo "$PYTHON has no PyTorch"; exit 77; }
  [ "$DEVICE" = cpu ] && { batch=8; iters=(--iters 1 --warmup 1); }
  # The reference has a hierarchical decoder only and no bf16: compared on the 16-bar shapes.
  for precision in fp32 tf32; do
    local tf32=0
    [ "$precision" = tf32 ] && tf32=1
    TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=$tf32 "$PYTHON" "$ref" --device "$DEVICE" --batch "$batch" "${iters[@]}" \
      --bars 16 --enc 2048 --enc-layers 2 --z 512 --cond 1024 --dec 1024 | tail -1 |
      "$PYTHON" -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(impl='reference (PyTorch eager)', model='hierdec-drums_16bar', batch=$batch, precision='$precision', tokens_per_s=d.get('seq_per_s', 0) * 256); print(json.dumps(d))" |
      tee -a "$OUT/bench.jsonl"
  done
}
export -f record ctest_rows phase_build phase_gpu_tests phase_suite phase_data phase_loader phase_nccl_refusal phase_bench phase_reference

FAILED=0
# phase NAME LIMIT_S: runs phase_NAME under `timeout` with its output in logs/NAME.log, records its
# status and seconds and rewrites the report; a phase that fails or runs out of time does not stop
# the others. No phase starts with less than 20 s of --deadline left, and none runs past it.
phase() {
  local name=$1 limit=$2 rc=0 t0=$SECONDS status=passed
  [[ ",$PHASES," == *",$name,"* ]] || return 0
  [ "$CPU" = 1 ] && limit=$((limit * 8))  # the CPU-only path on 2 cores, not 16: the time, not the limit, is the point
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 20 ]; then
    printf '%s\t%s\t0\t%s\n' "$name" "FAILED: not started, the --deadline of $DEADLINE s was reached" "$limit" >> "$OUT/phases.tsv"
    FAILED=1
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "gpu_check: $name (at most $limit s)"
  timeout --kill-after=10 "$limit" bash -c "set -euo pipefail; phase_${name//-/_}" > "$OUT/logs/$name.log" 2>&1 || rc=$?
  case "$rc" in
    0) ;;
    77) status="skipped: $(tail -1 "$OUT/logs/$name.log")" ;;
    124|137) status="FAILED: still running after $limit s"; FAILED=1 ;;
    *) status="FAILED (exit $rc): $(tail -1 "$OUT/logs/$name.log" | cut -c1-200)"; FAILED=1 ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "${status//$'\t'/ }" "$((SECONDS - t0))" "$limit" >> "$OUT/phases.tsv"
  echo "gpu_check: $name: $status ($((SECONDS - t0)) s)"
  write_report >/dev/null  # current after every phase, even if the run is killed later
}
# Each limit is about twice what the phase should take on one H100/H200 with 16 cores (docs/gpu.md);
# --deadline bounds the whole run.
phase build 240
phase gpu-tests 120
phase suite 90
phase data 30
phase loader 30
phase nccl-refusal 30
phase bench 150
phase reference 90
exit "$FAILED"
