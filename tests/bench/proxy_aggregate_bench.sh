#!/usr/bin/env bash
# Runs proxy_aggregate_bench against this build's glasstape and example server (tests/bench/run.sh
# calls it). Usage: tests/bench/proxy_aggregate_bench.sh [BUILD_DIR] [bench flags...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
shift || true
exec "$build/tests/proxy_aggregate_bench" --glasstape "$build/proxy/glasstape" \
  --server "$build/tests/glasstape-example-server" "$@"
