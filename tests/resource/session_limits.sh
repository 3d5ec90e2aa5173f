#!/usr/bin/env bash
# Resource test of the session layer of `glasstape serve` (issue 14): batch cost linear in
# its length, the batch limit, idle sessions making way at max_sessions. A few seconds.
# Usage: tests/resource/session_limits.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
exec node "$root/tests/resource/session_limits.mjs" \
  --glasstape "$build/proxy/glasstape" --server "$build/tests/glasstape-example-server"
