#!/usr/bin/env bash
# Resource check: loading hostile policy, policy test and config files (issue 14, items 7-9).
#
#   tests/resource/policy_limits.sh [BUILD_DIR] [--report]     (about 10 s on a release build)
#
# Each case runs `glasstape` from BUILD_DIR under GNU time and prints its peak RSS, the RSS
# growth over an empty load, that growth as a multiple of the input file, its CPU seconds and
# how it ended. Without --report the script fails when a case crashes, is not refused as it
# must be, or exceeds its bound; --report only prints (to measure an old build the same way).
# The hot-reload case runs `glasstape serve` and swaps a hostile file in under it.
# Needs a release build (an ASan build's shadow memory defeats the RSS figures and ulimit -v).
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD=${1:-$root/build}
MODE=${2:-check}
GT=$BUILD/proxy/glasstape
SERVER=$BUILD/tests/glasstape-example-server
[ -x "$GT" ] || { echo "no $GT" >&2; exit 2; }
W=$(mktemp -d)
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
# A runaway load (the old builds) ends in bad_alloc at 4 GB instead of taking the machine.
ulimit -v 4000000

failures=0
rep() {  # rep TEXT N: TEXT N times
  local s=$1 n=$2 out=
  while [ "$n" -gt 0 ]; do
    if [ $((n & 1)) = 1 ]; then out+=$s; fi
    s+=$s
    n=$((n >> 1))
  done
  printf '%s' "$out"
}
policy_with() {  # policy_with CONDITION: a policy whose deny rule has this condition
  printf 'policy_id: big\ntools: [t]\nrules:\n  deny:\n    - id: d\n      condition: "%s"\n  allow:\n    - {id: a, condition: "true"}\n' "$1"
}
laughs() {  # laughs INDENT: nine levels of ten aliases (10^9 strings when expanded)
  local i p
  printf '%sl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n' "$1"
  for i in 1 2 3 4 5 6 7 8 9; do
    p="*l$((i - 1))"
    printf '%sl%d: &l%d [%s, %s, %s, %s, %s, %s, %s, %s, %s, %s]\n' "$1" $i $i $p $p $p $p $p $p $p $p $p $p
  done
}
newdir() {  # newdir NAME: an empty policy directory
  rm -rf "${W:?}/$1"
  mkdir -p "$W/$1"
  echo "$W/$1"
}

printf '%-22s %9s %9s %7s %8s %-6s %s\n' case input_KB rss_MB grow_x cpu_s exit outcome
BASE_KB=0
# run NAME EXPECT MAX_GROW_X MAX_CPU_S INPUT_FILE -- COMMAND...
#   EXPECT: ok (exit 0), refused:TEXT (exit 1 or 2 and TEXT in the output)
run() {
  local name=$1 expect=$2 max_x=$3 max_cpu=$4 input=$5
  shift 6
  local bytes=0
  [ -n "$input" ] && bytes=$(stat -c %s "$input")
  /usr/bin/time -f '%M %U %S' -o "$W/time" timeout 300 "$@" >"$W/out" 2>&1
  local rc=$?
  local kb user sys
  read -r kb user sys < <(tail -n 1 "$W/time")
  local cpu grow_x outcome=ok
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  grow_x=$(awk -v k="$kb" -v b="$BASE_KB" -v n="$bytes" \
    'BEGIN { if (n >= 65536) printf "%.1f", (k - b) * 1024 / n; else print "-" }')
  if [ $rc -gt 128 ]; then
    outcome="crashed (signal $((rc - 128)))"
  elif [ $rc = 124 ]; then
    outcome="timed out"
  elif grep -q 'bad_alloc\|out of memory' "$W/out"; then
    outcome="out of memory"
  elif [ "$expect" = ok ]; then
    [ $rc = 0 ] || outcome="failed: $(head -c 160 "$W/out" | tr '\n' ' ')"
  else
    local want=${expect#refused:}
    if [ $rc = 0 ]; then
      outcome="accepted"
    elif grep -qF -- "$want" "$W/out"; then
      outcome="refused: $(grep -F -m1 -- "$want" "$W/out" | cut -c1-100)"
    else
      outcome="failed: $(head -c 160 "$W/out" | tr '\n' ' ')"
    fi
  fi
  printf '%-22s %9.1f %9.1f %7s %8s %-6s %s\n' "$name" "$(awk -v b="$bytes" 'BEGIN { print b / 1024 }')" \
    "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')" \
    "$grow_x" "$cpu" "$rc" "$outcome"
  if [ "$MODE" != --report ]; then
    local bad=
    case $outcome in ok | refused:*) ;; *) bad=1 ;; esac
    if [ "$grow_x" != - ] && awk -v g="$grow_x" -v m="$max_x" 'BEGIN { exit !(g > m) }'; then bad=1; fi
    if awk -v c="$cpu" -v m="$max_cpu" 'BEGIN { exit !(c > m) }'; then bad=1; fi
    if [ -n "$bad" ]; then
      echo "  FAIL $name: bound is ${max_x}x the input and ${max_cpu}s of CPU" >&2
      failures=$((failures + 1))
    fi
  fi
}

# The baseline: a tiny valid directory.
D=$(newdir base)
policy_with "args.a == 1" >"$D/p.yaml"
/usr/bin/time -f '%M' -o "$W/time" "$GT" policy check "$D" >/dev/null 2>&1
BASE_KB=$(tail -n 1 "$W/time")

# Item 7: long operator chains, large literals, many rules, many keys.
D=$(newdir or300)
policy_with "$(rep "args.a == 1 || args.b == 'xyzxyzxy' || " 7500)false" >"$D/p.yaml"
run or_chain_300KB ok 10 5 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir or1m)
policy_with "$(rep "args.a == 1 || args.b == 'xyzxyzxy' || " 25000)false" >"$D/p.yaml"
run or_chain_1MB ok 10 10 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir and1m)
policy_with "$(rep "has(args.a) && " 60000)true" >"$D/p.yaml"
run and_chain_900KB ok 10 10 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir plus)
policy_with "$(rep "1 + " 75000)1 == 2" >"$D/p.yaml"
run plus_chain_300KB "refused:nests deeper than 96 levels" 10 5 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir list)
policy_with "args.a in [$(rep "12," 300000)1]" >"$D/p.yaml"
run list_literal_900KB ok 20 10 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir rules)
{
  printf 'policy_id: many\ntools: [t]\nrules:\n  deny:\n'
  for i in $(seq 1 10000); do
    printf '    - {id: r%d, condition: "args.amount > %d && principal.id == '"'"'x'"'"'"}\n' "$i" "$i"
  done
  printf '  allow:\n    - {id: a, condition: "true"}\n'
} >"$D/p.yaml"
run many_rules_700KB ok 20 10 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir keys)
{
  policy_with "true"
  printf 'metadata:\n'
  seq -f '  k%.0f: 1' 1 80000
} >"$D/p.yaml"
run map_80k_keys ok 24 10 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir big)
policy_with "$(rep "true || " 280000)true" >"$D/p.yaml"
run file_2MB "refused:over the limit of 1048576 bytes" 10 2 "$D/p.yaml" -- "$GT" policy check "$D"

# Item 8: alias bombs in a policy file, a policy test file and the config.
D=$(newdir bomb)
{
  policy_with "true"
  printf 'metadata:\n  s: &s "%s"\n  l: [%s*s]\n' "$(rep x 100000)" "$(rep '*s, ' 10000)"
} >"$D/p.yaml"
run alias_bytes_policy "refused:aliases expand the document too much" 10 5 "$D/p.yaml" -- "$GT" policy check "$D"
D=$(newdir laughs_test)
policy_with "true" >"$D/p.yaml"
{
  printf 'tests:\n  - name: bomb\n    tool: t\n    expect: deny\n    args:\n'
  laughs '      '
} >"$D/p_test.yaml"
run laughs_policy_test "refused:aliases expand the document too much" 10 5 "$D/p_test.yaml" -- "$GT" policy test "$D"
{
  printf 'identity:\n  agent_id: a\n  attributes:\n'
  laughs '    '
} >"$W/laughs_config.yaml"
run laughs_config "refused:aliases expand the document too much" 10 5 "$W/laughs_config.yaml" -- "$GT" run -c "$W/laughs_config.yaml" -- /bin/true

# Item 9: a symlink loop named like a test file.
D=$(newdir loop)
policy_with "true" >"$D/p.yaml"
ln -s loop_test.yaml "$D/loop_test.yaml"
run symlink_loop_test "refused:Too many levels of symbolic links" 10 2 "" -- "$GT" policy test "$D"
run symlink_loop_check ok 10 2 "" -- "$GT" policy check "$D"

# Hot reload: a running proxy is fed a hostile file and must keep serving the last good set.
if [ -x "$SERVER" ]; then
  D=$(newdir live)
  policy_with "args.a == 1" >"$D/p.yaml"
  PORT=$((20000 + RANDOM % 20000))
  cat >"$W/serve.yaml" <<EOF
servers:
  example: {command: [$(realpath "$SERVER")]}
http: {listen: "127.0.0.1:$PORT", path: /mcp}
governance:
  policies: {dir: $D, state_dir: $W/state, reload_interval_ms: 50}
EOF
  "$GT" serve -c "$W/serve.yaml" >"$W/serve.log" 2>&1 &
  SERVE_PID=$!
  sleep 1
  for hostile in plus or1m bomb; do
    cp "$W/$hostile/p.yaml" "$D/p.yaml"
    sleep 1.5
  done
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    kept=$(grep -c 'keeping the last good version' "$W/serve.log")
    echo "hot_reload             serve alive after 3 hostile reloads; $kept refused with the last good set kept"
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null
    [ "$kept" -ge 2 ] || { [ "$MODE" = --report ] || failures=$((failures + 1)); }
  else
    wait "$SERVE_PID"
    echo "hot_reload             serve DIED (exit $?) during a hostile reload"
    [ "$MODE" = --report ] || failures=$((failures + 1))
  fi
  SERVE_PID=
fi

if [ "$MODE" != --report ]; then
  if [ $failures -gt 0 ]; then
    echo "policy_limits: $failures case(s) over their bound" >&2
    exit 1
  fi
  echo "policy_limits: all cases within their bounds"
fi
