#!/usr/bin/env bash
# Configures and builds Plexus with the release preset (Ninja, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${PLEXUS_PRESET:-release}"
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
cmake --build --preset "$preset" "$@"
