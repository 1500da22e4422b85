#!/usr/bin/env bash
# What CI can test of launch/gpu_check.sh without a GPU: its options, its refusal without a GPU,
# unpacking carried Debian packages (two packages built here with dpkg-deb), the report writer,
# and the CPU-only path (--cpu): a failing phase is reported and the others still run; with the
# project's build (the first argument, from CTest) and the Groove zip, the data and loader phases.
#   bash tests/gpu_check_test.sh [BUILD_DIR]
set -euo pipefail
BUILD_DIR="${1:-}"
SCRIPT="$(cd "$(dirname "$0")/.." && pwd)/launch/gpu_check.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Options.
bash "$SCRIPT" --help | grep -q -- "--fetch-debs" || fail "--help does not list the options"
set +e
out="$(bash "$SCRIPT" --bogus 2>&1)"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "unknown option --bogus" <<<"$out" || fail "--bogus: exit $rc, '$out'"
set +e
out="$(bash "$SCRIPT" --jobs x 2>&1)"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "positive number" <<<"$out" || fail "--jobs x: exit $rc, '$out'"

# Without a GPU the run stops at once with exit 3 and says why.
if ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  set +e
  out="$(OUT="$WORK/out" bash "$SCRIPT" 2>&1)"; rc=$?
  set -e
  [ "$rc" = 3 ] && grep -q "no NVIDIA GPU visible" <<<"$out" || fail "no GPU: exit $rc, '$out'"
fi

# Unpacking: a fake HDF5 header package and a fake OpenMPI package, as Debian lays them out.
make_deb() {  # make_deb NAME FILE CONTENT
  local root="$WORK/pkg-$1"
  mkdir -p "$root/DEBIAN" "$(dirname "$root/$2")"
  printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n' "$1" > "$root/DEBIAN/control"
  printf '%s\n' "$3" > "$root/$2"
  chmod +x "$root/$2"
  mkdir -p "$WORK/debs"
  dpkg-deb --build --root-owner-group "$root" "$WORK/debs/$1.deb" >/dev/null
}
make_deb fake-hdf5 usr/include/hdf5/serial/hdf5.h '#define FAKE_HDF5 1'
make_deb fake-openmpi usr/bin/mpirun.openmpi '#!/bin/sh
echo fake-mpirun "$OPAL_PREFIX"'
bash "$SCRIPT" --unpack-debs "$WORK/debs" --prefix "$WORK/prefix" | grep -q "unpacked 2 packages" || fail "unpack did not report 2 packages"
[ -f "$WORK/prefix/usr/include/hdf5/serial/hdf5.h" ] || fail "hdf5.h not unpacked"
(
  # shellcheck disable=SC1091
  source "$WORK/prefix/env.sh"
  [ "$(command -v mpirun)" = "$WORK/prefix/usr/bin/mpirun" ] || fail "mpirun is $(command -v mpirun), not the carried one"
  [ "$(mpirun)" = "fake-mpirun $WORK/prefix/usr" ] || fail "OPAL_PREFIX not set for the relocated OpenMPI"
  echo '#include <hdf5.h>
FAKE_HDF5' | c++ -E -x c++ - | grep -q "^1$" || fail "the compiler does not find the carried hdf5.h through CPATH"
)
set +e
out="$(bash "$SCRIPT" --unpack-debs "$WORK/empty" --prefix "$WORK/p2" 2>&1)"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "no .deb files" <<<"$out" || fail "an empty --debs folder: exit $rc, '$out'"

# The report: a table of the results and one of the benchmarks, MFU in percent; JSON beside it.
mkdir -p "$WORK/report"
printf 'gpu\tNVIDIA H100 80GB HBM3, 81559 MiB, 580.159.04\ntest suite\tpassed: 100%% tests passed\n' > "$WORK/report/results.tsv"
echo '{"impl": "ours", "model": "hierdec-drums_16bar", "batch": 512, "precision": "bf16", "seq_per_s": 1234.5, "model_tflops": 250.0, "mfu": 0.2528, "tokens_per_s": 316032}' > "$WORK/report/bench.jsonl"
bash "$SCRIPT" --report "$WORK/report" >/dev/null
grep -q "| gpu | NVIDIA H100 80GB HBM3, 81559 MiB, 580.159.04 |" "$WORK/report/report.md" || fail "results row missing: $(cat "$WORK/report/report.md")"
grep -q "| ours | hierdec-drums_16bar | 512 | bf16 | teacher-forced | 1234.5 | 316,032 | 250.00 | 25.3% |" "$WORK/report/report.md" || fail "bench row: $(cat "$WORK/report/report.md")"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['bench'][0]['seq_per_s'] == 1234.5 and 'gpu' in d['results']" "$WORK/report/report.json" ||
  fail "report.json"

# The CPU-only path with nothing built: every phase that needs a program fails or is skipped with
# its reason, the run goes on to the end, the report says so, and the exit status is 1.
set +e
out="$(bash "$SCRIPT" --cpu --skip-build --build "$WORK/nothing-built" --out "$WORK/cpu-fail" --phases data,loader,bench \
  --data "$WORK/no-such.zip" 2>&1)"; rc=$?
set -e
[ "$rc" = 1 ] || fail "a failing phase: exit $rc, '$out'"
report="$WORK/cpu-fail/report.md"
[ -f "$report" ] || fail "no report after failing phases: '$out'"
grep -q "^| data | FAILED (exit 127)" "$report" || fail "the data phase's failure: $(cat "$report")"
grep -q "^| loader | skipped: no shards: the data phase makes them |" "$report" || fail "the loader's skip: $(cat "$report")"
grep -q "^| bench | FAILED" "$report" || fail "the bench phase ran after the failures: $(cat "$report")"
[ -s "$WORK/cpu-fail/logs/data.log" ] || fail "no log of the failed phase"
set +e
out="$(bash "$SCRIPT" --cpu --phases data,nonsense 2>&1)"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "unknown phase 'nonsense'" <<<"$out" || fail "--phases nonsense: exit $rc, '$out'"

# With the project's programs and the real data: shards made, the loader's rates in the report.
if [ -n "$BUILD_DIR" ] && [ -x "$BUILD_DIR/bin/bench_loader" ] && [ -n "${MVAE_GROOVE_ZIP:-}" ]; then
  mkdir -p "$WORK/cpu-build"
  ln -s "$BUILD_DIR/bin" "$WORK/cpu-build/bin"
  bash "$SCRIPT" --cpu --skip-build --build "$WORK/cpu-build" --out "$WORK/cpu-ok" --phases data,loader --data "$MVAE_GROOVE_ZIP" >/dev/null ||
    fail "the data and loader phases on the CPU: $(cat "$WORK/cpu-ok/report.md" 2>/dev/null)"
  report="$WORK/cpu-ok/report.md"
  grep -q "^| data | passed |" "$report" && grep -q "^| loader | passed |" "$report" || fail "phases: $(cat "$report")"
  for row in "cat-drums_2bar_small | 2 | tokens" "groovae_2bar_humanize | 2 | groove" "hierdec-drums_16bar | 16 | tokens"; do
    grep -q "^| $row | " "$report" || fail "no loader row '$row': $(cat "$report")"
  done
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d['loader']) == 3 and all(r['windows_per_s_per_rank'] > 0 for r in d['loader'])" \
    "$WORK/cpu-ok/report.json" || fail "report.json's loader rows"
else
  echo "gpu_check_test: the CPU run of the data and loader phases skipped (needs the build folder and MVAE_GROOVE_ZIP)"
fi
echo "gpu_check: options, no-GPU refusal, unpacking, report and the CPU-only path all as expected"
