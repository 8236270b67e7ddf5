#!/usr/bin/env bash
# The main job: install what is missing, build, and start Plexus.
# Until the gateway lands this serves the everything server over stdio.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/release/apps/plexus/plexus everything --stdio "$@"
