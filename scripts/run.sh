#!/usr/bin/env bash
# The main job: install what is missing, build, and serve. Until the gateway
# lands this is the everything server over Streamable HTTP (both eras),
# HTTP+SSE and WebSocket on 127.0.0.1 (PLEXUS_ADDR=HOST:PORT to change).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
addr="${PLEXUS_ADDR:-127.0.0.1:8080}"
cat >&2 <<MSG
Connect a client:
  MCP Inspector:   npx @modelcontextprotocol/inspector  (transport "Streamable HTTP", URL http://${addr}/mcp)
  Claude Desktop:  {"mcpServers":{"plexus":{"command":"$PWD/build/release/apps/plexus/plexus","args":["everything","--stdio"]}}}
  curl:            see README.md
Stop with Ctrl-C.
MSG
exec build/release/apps/plexus/plexus --log-level info everything --http "$addr" "$@"
