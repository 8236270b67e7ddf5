#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration,
# interop with the official npm SDKs, bad input, format check) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
scripts/format-check.sh
cd build/release
ctest --output-on-failure -j "$(nproc)" --timeout 600
