#!/usr/bin/env bash
# Installs what nifc needs from Debian (if missing), configures and builds.
#   tools/setup.sh [BUILD_DIR] [extra cmake args...]
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true

PACKAGES=(cmake g++ make pkg-config libtorch-dev libopenblas0-openmp libpng-dev libzstd-dev
  libcli11-dev nlohmann-json3-dev doctest-dev python3-numpy python3-scipy python3-matplotlib
  python3-pil clang-14 libclang-rt-14-dev slurm-wlm munge)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

JOBS=$(nproc)
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD" -j "$JOBS" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^make|^Consolidate|^-- ' || true
# The grep above hides progress lines; fail if the build did not finish.
cmake --build "$BUILD" -j "$JOBS" >/dev/null
