#!/usr/bin/env bash
# Resource test of `glasstape serve` under hostile HTTP load (issue 14): partial bodies,
# trickling clients, descriptor exhaustion, ambiguous framing and bad Host headers. About
# 20 s. Usage: tests/resource/http_limits.sh [BUILD_DIR] [--only bodies,trickle,fds,edge]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
shift || true
exec node "$root/tests/resource/http_limits.mjs" \
  --glasstape "$build/proxy/glasstape" \
  --server "$build/tests/glasstape-example-server" "$@"
