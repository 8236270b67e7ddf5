#!/usr/bin/env bash
# Drives the README example over stdio and checks its answers.
set -euo pipefail
out=$(printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"check","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' \
  '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_forecast","arguments":{"city":"Paris","days":2}}}' \
  '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_forecast","arguments":{"city":"Paris","days":40}}}' \
  | "$1")
fail() { echo "FAIL: $1"; echo "$out"; exit 1; }
grep -q '"id":2,"result":{"tools":\[{"name":"get_forecast"' <<<"$out" || fail "tools/list"
grep -q '"required":\["city"\]' <<<"$out" || fail "derived schema: days must be optional"
grep -q '"outputSchema"' <<<"$out" || fail "outputSchema"
grep -q '"id":3,"result":{"content":\[{"type":"text","text":"{\\"city\\":\\"Paris\\",\\"highs_c\\":\[20.0,21.0\]}"}\],"structuredContent":{"city":"Paris","highs_c":\[20.0,21.0\]}}' <<<"$out" \
  || fail "structured result"
grep -q '"id":4,"result":{"content":\[{"type":"text","text":"Invalid arguments for tool get_forecast: /days:' <<<"$out" \
  || fail "days above the maximum must be a tool error"
grep -q '"id":4,.*"isError":true' <<<"$out" || fail "isError"
echo "example_forecaster: 6 checks passed"
