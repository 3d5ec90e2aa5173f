#!/usr/bin/env bash
# Runs the benchmarks by hand (never from the test command): each prints its figures as
# ratios against a baseline measured in the same run. Usage: tests/bench/run.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
cd "$root"
echo "== stdio proxy (issue 3)"
"$build/tests/proxy_stdio_bench" --glasstape "$build/proxy/glasstape" \
  --server "$build/tests/glasstape-example-server"
for b in "$build"/tests/*_bench; do
  name=$(basename "$b")
  [[ "$name" == proxy_stdio_bench ]] && continue
  if [[ -x "tests/bench/${name}.sh" ]]; then
    echo "== $name (tests/bench/${name}.sh)"
    "tests/bench/${name}.sh" "$build"
  else
    echo "== $name"
    "$b"
  fi
done
