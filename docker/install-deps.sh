#!/usr/bin/env bash
# Installs the Debian packages GlassTape needs to build, run and test.
# Idempotent: packages already present are skipped and apt is not touched at all
# when nothing is missing. Used by the Makefile, .ci/run and docker/Dockerfile.
#   docker/install-deps.sh            build + run dependencies
#   docker/install-deps.sh --test     also the test and benchmark tools
set -euo pipefail

build_pkgs=(g++ cmake make pkg-config
  libboost1.81-dev nlohmann-json3-dev libyaml-cpp-dev libsodium-dev
  libre2-dev libcli11-dev libspdlog-dev libssl-dev libsimdjson-dev libyaml-dev)
test_pkgs=(catch2 nodejs npm libvalijson-dev wrk clang-format prometheus chromium)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside apt (e.g. a preinstalled toolchain): accept any working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
