#!/usr/bin/env bash
# Writes tests/ctest_costs.txt from a build's measured test times (BUILD/Testing/Temporary/CTestCostData.txt,
# which ctest keeps after each run), keeping only the tests that exist now.
#   bash tools/ctest_cost_seed.sh build
# launch/test.sh copies the file into a build folder that has none (a fresh clone, as CI's): ctest then starts the
# longest tests first instead of in the order they are declared, so the last minutes are not one long test alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: tools/ctest_cost_seed.sh BUILD_DIR}
costs="$BUILD/Testing/Temporary/CTestCostData.txt"
[ -f "$costs" ] || { echo "no $costs: run the tests in $BUILD first" >&2; exit 1; }
names=$(cd "$BUILD" && ctest -N | sed -n 's/^ *Test *#[0-9]*: //p')
# A cost line is "NAME RUNS SECONDS" (NAME may hold spaces); the failed-tests list after "---" is not kept.
awk -v names="$names" 'BEGIN { n = split(names, list, "\n"); for (i = 1; i <= n; i++) keep[list[i]] = 1 }
  /^---/ { exit }
  { name = $0; sub(/ [0-9]+ [0-9.e+-]+$/, "", name); if (name in keep) print name, 1, $NF }' "$costs" |
  sort > tests/ctest_costs.txt
echo "---" >> tests/ctest_costs.txt
echo "wrote tests/ctest_costs.txt: $(($(wc -l < tests/ctest_costs.txt) - 1)) tests of $(echo "$names" | wc -l)"
