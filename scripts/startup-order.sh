#!/usr/bin/env bash
# Regenerates apps/plexus/startup.order: the functions of the plexus binary that run while
# it starts and answers its first requests, as the section names that the linker places
# first (gold's --section-ordering-file; the library is compiled with -ffunction-sections).
#
# Why: start-up code is spread over the whole binary, and the kernel maps a file 64 KB
# around every page a process faults in (fault-around). About 150 KB of start-up code in
# 37 places made 2.3 MB of the binary resident in an idle server; clustered, it takes a few
# 64 KB windows. Functions missing from the list (new since the last run) still work; they
# are only not clustered. Run this after larger changes to start-up, and commit the list.
#
#   scripts/startup-order.sh [BUILD_DIR]     (default build/release; needs valgrind, curl)
#
# Profiles (valgrind --tool=callgrind, with instruction addresses): `everything --stdio`
# answering initialize + tools/call, `everything --http` answering a 2026-07-28 call, and
# `plexus run` (the gateway with every built-in server) answering tools/list.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
bin=$build/apps/plexus/plexus
out=apps/plexus/startup.order
for tool in valgrind curl python3 objdump; do
  command -v "$tool" >/dev/null || { echo "startup-order: $tool is missing" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "startup-order: build $bin first" >&2; exit 1; }
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cg() { valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$work/$1.cg" "${@:2}"; }

# 1. stdio: a 2025-11-25 session and one call, then end of input.
printf '%s\n' \
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"order","version":"1"}}}' \
  '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
  '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}' |
  cg stdio "$bin" everything --stdio >/dev/null 2>"$work/stdio.log"

# 2 and 3: a server on a free loopback port, one request, then SIGTERM (a clean exit).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
modern_call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
modern_list='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
serve_once() {  # NAME BODY METHOD NAME_HEADER -- ARGS...
  local name=$1 body=$2 method=$3 tool=$4 port
  shift 5
  port=$(free_port)
  valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$work/$name.cg" \
    "$bin" "$@" --http "127.0.0.1:$port" >/dev/null 2>"$work/$name.log" &
  local pid=$!  # valgrind itself: SIGTERM reaches plexus, which exits cleanly
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null --max-time 5 -X POST "http://127.0.0.1:$port/mcp" \
      -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
      -H 'MCP-Protocol-Version: 2026-07-28' -H "Mcp-Method: $method" ${tool:+-H "Mcp-Name: $tool"} \
      -d "$body"; then
      break
    fi
    sleep 0.2
  done
  kill -TERM "$pid"
  wait "$pid" || true
  [ -s "$work/$name.cg" ] || { echo "startup-order: no profile of $name" >&2; exit 1; }
}
serve_once http "$modern_call" tools/call echo -- everything
serve_once run "$modern_list" tools/list "" -- run --data-dir "$work/data"

# Executed addresses -> the functions holding them -> their sections in the objects.
objects=("$build"/CMakeFiles/plexus.dir/src/*/*.o "$build"/apps/plexus/CMakeFiles/plexus_cli.dir/*.o)
objdump -t "${objects[@]}" 2>/dev/null >"$work/sections"
nm --defined-only -S "$bin" | awk 'NF == 4 && $3 ~ /^[tTwW]$/ { print $1, $2, $4 }' >"$work/symbols"
python3 - "$work" "$bin" "$out" <<'EOF'
import bisect, glob, re, sys
work, binary, out = sys.argv[1:4]
addrs = {}  # address -> the scenarios that ran it
position = re.compile(r'^(0x[0-9a-f]+|[+-]\d+|\*)(\s|$)')
for path in glob.glob(work + '/*.cg'):
    scenario = path.split('/')[-1][:-3]
    names, current, last = {}, None, 0
    for line in open(path):
        for key in ('ob=', 'cob='):
            if line.startswith(key):
                m = re.match(key.replace('=', r'=\((\d+)\)(?: (.*))?'), line.strip())
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if key == 'ob=':
                    current = names.get(m.group(1))
                break
        else:
            m = position.match(line)
            if not m:
                continue
            t = m.group(1)
            if t.startswith('0x'):
                last = int(t, 16)
            elif t != '*':
                last += int(t)
            if current and current.endswith(binary.split('/')[-1]) and '/apps/plexus/' in current:
                addrs.setdefault(last, set()).add(scenario)
symbols = []
for line in open(work + '/symbols'):
    a, size, name = line.split()
    symbols.append((int(a, 16), int(size, 16), name))
symbols.sort()
starts = [s[0] for s in symbols]
ran = {}  # function -> (its address, the scenarios that ran it)
for a, used_by in addrs.items():
    i = bisect.bisect_right(starts, a) - 1
    if i >= 0 and a < symbols[i][0] + max(symbols[i][1], 1):
        ran.setdefault(symbols[i][2], (symbols[i][0], set()))[1].update(used_by)
# What every scenario runs comes first, then what stdio and HTTP servers share, then each
# one's own: an idle `everything --stdio` touches one contiguous run of the list.
rank = {frozenset(k.split()): i for i, k in enumerate(
    ['stdio http run', 'stdio http', 'stdio run', 'stdio', 'http run', 'http', 'run'])}
section_of = {}
for line in open(work + '/sections'):  # objdump -t: ADDR FLAGS... SECTION SIZE [.hidden] NAME
    parts = line.split()
    if len(parts) < 5 or ' F ' not in line:
        continue
    section = next((p for p in parts[1:-1] if p.startswith('.text')), None)
    if section:
        section_of.setdefault(parts[-1], section)
lines, seen = [], set()
for name, _ in sorted(ran.items(), key=lambda kv: (rank[frozenset(kv[1][1])], kv[1][0])):
    section = section_of.get(name)
    if section is None and name.endswith('.cold'):
        section = section_of.get(name[:-5], '').replace('.text.', '.text.unlikely.', 1) or None
    if section and section not in seen and section not in ('.text', '.text.startup'):
        seen.add(section)
        lines.append(section)
with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')
size = sum(s[1] for s in symbols if s[2] in ran)
print(f'startup-order: {len(lines)} sections ({size // 1024} KB of code) -> {out}')
EOF
