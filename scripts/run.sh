#!/usr/bin/env bash
# The main job: install what is missing, build, and run the gateway with every
# built-in server mounted (weather_, sqlite_, fs_, wallet_, knowledge_, memory_)
# on 127.0.0.1, data under one directory (SQLite), no other service needed.
#   PLEXUS_ADDR=HOST:PORT   where to listen (default 127.0.0.1:8080)
#   PLEXUS_DATA=DIR         where the data lives (default ./plexus-data)
# A ./plexus.yaml (write one with `plexus init`) replaces the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --target plexus_cli
exec build/release/apps/plexus/plexus --log-level info run \
  --http "${PLEXUS_ADDR:-127.0.0.1:8080}" --data-dir "${PLEXUS_DATA:-plexus-data}" "$@"
