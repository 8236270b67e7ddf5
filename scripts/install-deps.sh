#!/usr/bin/env bash
# Installs what Plexus needs to build and test, from Debian packages and the
# npm registry only. Idempotent: packages already present are not touched, and
# apt-get runs only when something is missing. Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

build_pkgs=(
  build-essential cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  libpq-dev libhiredis-dev libhnswlib-dev libmimalloc-dev
)
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev nodejs npm clang-format clang libclang-rt-14-dev openssl wrk gnuplot-nox python3 valgrind
  postgresql redis-server)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# nodejs/npm may come from outside Debian on a developer machine; accept any working copy.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all Debian packages present" >&2
fi

if [ "${1:-}" = "--test" ]; then
  # Pinned npm peers (lock files committed): the official TypeScript SDKs for
  # interop, and the official conformance runners with the Node 22 they need.
  for dir in tests/interop/node tests/conformance/node bench/peers; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      echo "install-deps: npm ci in $dir" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      touch "$dir/node_modules"
    fi
  done
fi
