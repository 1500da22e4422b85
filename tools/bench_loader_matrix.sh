#!/usr/bin/env bash
# The input-pipeline benchmark of docs/benchmarks.md ("Input pipeline"): bench_loader for token
# and groove batches at 2, 4 and 16 bars, from the files (--loader-memory-mb 0, the loader before
# issue 24) and resident in memory (train's default), cold and warm page cache, one rank and two
# ranks reading at once. Prints one JSON line per run, then a Markdown table.
#   bash tools/bench_loader_matrix.sh BUILD_DIR SHARDS_PREFIX [BATCHES]
#   SHARDS_PREFIX2, SHARDS_PREFIX4 and SHARDS_PREFIX16 are shard folders of 2, 4 and 16 bars
set -euo pipefail
BUILD="${1:?usage: bench_loader_matrix.sh BUILD_DIR SHARDS_PREFIX [BATCHES]}"
PREFIX="${2:?usage: bench_loader_matrix.sh BUILD_DIR SHARDS_PREFIX [BATCHES]}"
BATCHES="${3:-100}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
BENCH="$BUILD/bin/bench_loader"
JSONL="$(mktemp)"
trap 'rm -f "$JSONL"' EXIT
# preset per (bars, kind): the paper-size model whose GPU consumption each row is compared with.
run() {  # run BARS PRESET RANKS MEMORY_MB COLD [--groove]
  local bars=$1 preset=$2 ranks=$3 memory=$4 cold=$5 args=("${@:6}")
  [ "$cold" = 1 ] && args+=(--cold --no-verify)  # train verifies (reads) every shard at open: cold means no CRC pass
  local batches=$BATCHES
  [ "$memory" = 0 ] && batches=$(( (BATCHES + 9) / 10 ))
  mpirun --oversubscribe -np "$ranks" "$BENCH" --data "$PREFIX$bars" --preset "$preset" --batch 512 --batches "$batches" \
    --loader-memory-mb "$memory" "${args[@]}" | tail -1 | tee -a "$JSONL"
}
# 16-bar groove batches: no groove preset has 16 bars; they are held against hierdec-drums_16bar's
# need (the same FLOPs but for the 27-wide input and output layers).
for spec in "2 cat-drums_2bar_small" "2 groovae_2bar_humanize" "4 hierdec-drums_4bar" "4 groovae_4bar" "16 hierdec-drums_16bar" \
            "16 flat-drums_16bar" "16 hierdec-drums_16bar --groove"; do
  set -- $spec
  for ranks in 1 2; do
    for memory in 0 2048; do
      for cold in 1 0; do run "$1" "$2" "$ranks" "$memory" "$cold" "${@:3}"; done
    done
  done
done
python3 - "$JSONL" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\n| preset | bars | batches of | ranks | page cache | from | windows/s per rank (slowest) | with the model's input made on the CPU | first batch | one A100 needs | margin |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['preset']} | {r['bars']} | {'groove' if r['groove'] else 'tokens'} | {r['ranks']} | {'cold' if r['cold'] else 'warm'} | "
          f"{'files' if r['loader_memory_mb'] == 0 else 'memory'} | {r['windows_per_s_per_rank']:,.0f} | {r['with_model_input_per_s']:,.0f} | {r['first_batch_s']:.3f} s | "
          f"{r['gpu_windows_per_s']:,.0f} | {r['margin']:.1f}x |")
PY
