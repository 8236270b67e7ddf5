#!/usr/bin/env python3
"""bench/report.py OUT: turns OUT/results.tsv + OUT/meta.env (written by bench/run) into
OUT/report.md and, when gnuplot is installed, PNG charts: OUT/<scenario>-throughput.png and
OUT/<scenario>-p99.png for scenarios measured at several levels, OUT/memory-churn.png.
Standard library only. Sections appear for the scenarios that ran; the final "Targets" table
lists every target of the benchmark issue (measured, met / NOT met, or not measured)."""
import csv
import os
import shutil
import subprocess
import sys

out = sys.argv[1]
meta = {}
with open(os.path.join(out, "meta.env")) as f:
    for line in f:
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            meta[k] = v

rows = []
with open(os.path.join(out, "results.tsv")) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        rows.append(r)


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def extra(r):
    """The key=value pairs of a row's extra column (absent in TSVs of older runs)."""
    d = {}
    for kv in (r.get("extra") or "").split():
        if "=" in kv:
            k, v = kv.split("=", 1)
            d[k] = v
    return d


by = {}
for r in rows:
    by.setdefault(r["scenario"], []).append(r)


def g(sc, impl, lv, key):
    for r in by.get(sc, []):
        if r["impl"] == impl and r["level"] == lv:
            return num(r[key]) if key in r else num(extra(r).get(key))
    return None


def fmt_rate(v):
    return "—" if v is None else f"{v:,.0f}"


def fmt_ms(us):
    return "—" if us is None else f"{us / 1000:.3f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def fmt_mb(kb):
    return "—" if kb is None else f"{kb / 1024:.1f}"


def fmt_bytes(b):
    if b is None:
        return "—"
    return f"{b / 1024:.1f} KB" if abs(b) >= 1024 else f"{b:.0f} B"


# (scenario, description, axis, TS peers compared with Plexus)
LOAD_SCENARIOS = [
    ("stdio", "stdio, tools/call echo, pipelined window (requests in flight)", "window",
     ["ts-v1"]),
    ("http-modern", "Streamable HTTP, stateless, tools/call echo (Plexus and TS v2: 2026-07-28 "
     "envelope + headers; TS v1: its stateless mode, 2025-11-25 without a session)", "connections",
     ["ts-v1-stateless", "ts-v2"]),
    ("http-legacy", "Streamable HTTP, legacy session (initialize once, Mcp-Session-Id; SSE "
     "responses)", "connections", ["ts-v1-stateful-sse"]),
    ("payload-stdio", "stdio, tools/call echo of a {bytes}-byte text (the answer carries it back), "
     "pipelined window. The calibration responder answers its fixed short result: its row is the "
     "ceiling of moving the request only", "window", ["ts-v1"]),
    ("payload-http", "Streamable HTTP, stateless, tools/call echo of a {bytes}-byte text (wrk). "
     "Calibration answers a fixed short result (ceiling of moving the request only)",
     "connections", ["ts-v1-stateless", "ts-v2"]),
    ("list1000-stdio", "stdio, a complete tools/list of {tools} extra tools + the server's own; "
     "one operation = every page (loadgen follows nextCursor; Plexus pages at 100 tools, the TS "
     "SDK does not paginate; `pages` = pages fetched in total, warm-up included). Calibration "
     "answers one fixed short result", "window", ["ts-v1"]),
    ("list1000-http", "Streamable HTTP, stateless, a complete tools/list of {tools} extra tools "
     "(loadgen's HTTP client, one thread per connection, following nextCursor; Plexus and TS v2: "
     "2026-07-28, TS v1: stateless 2025-11-25). Calibration answers one fixed short result",
     "connections", ["ts-v1-stateless", "ts-v2"]),
]


def levels_of(rs):
    lv = []
    for r in rs:
        if r["level"] not in lv:
            lv.append(r["level"])
    return lv


def load_table(rs, axis):
    show_extra = any((r.get("extra") or "").strip() for r in rs)
    head = f"| impl | {axis} | req/s | p50 | p90 | p99 | p99.9 | RSS MB | CPU s | errors |"
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if show_extra:
        head += " notes |"
        sep += "---|"
    t = [head, sep]
    for r in rs:
        line = (f"| {r['impl']} | {r['level']} | {fmt_rate(num(r['throughput']))} | "
                f"{fmt_ms(num(r['p50_us']))} | {fmt_ms(num(r['p90_us']))} | "
                f"{fmt_ms(num(r['p99_us']))} | {fmt_ms(num(r['p999_us']))} | "
                f"{fmt_mb(num(r['rss_kb']))} | {r['cpu_s'] or '—'} | {r['errors'] or '—'} |")
        if show_extra:
            line += f" {r.get('extra') or ''} |"
        t.append(line)
    return t + [""]


def ratio_table(rs, axis, peers):
    get = {(r["impl"], r["level"]): r for r in rs}
    peers = [p for p in peers if any(r["impl"] == p for r in rs)]
    head = [f"| {axis} |"] + [f" Plexus / {p} req/s | {p} / Plexus p99 |" for p in peers] + \
        [" Plexus / calibration req/s | Plexus p50 / calibration p50 |"]
    t = ["".join(head), "|---:|" + "---:|---:|" * (len(peers) + 1)]
    for lv in levels_of(rs):
        px = get.get(("plexus", lv))
        cal = get.get(("calibration", lv))
        cells = [f"| {lv} |"]
        for p in peers:
            pr = get.get((p, lv))
            cells.append(
                f" {fmt_ratio(num(px and px['throughput']), num(pr and pr['throughput']))} |"
                f" {fmt_ratio(num(pr and pr['p99_us']), num(px and px['p99_us']))} |")
        tp = num(px and px["throughput"])
        tc = num(cal and cal["throughput"])
        frac = "—" if tp is None or not tc else f"{100 * tp / tc:.0f}%"
        cells.append(f" {frac} | {fmt_ratio(num(px and px['p50_us']), num(cal and cal['p50_us']))} |")
        t.append("".join(cells))
    return t + [""]


def chart_ref(sc):
    if shutil.which("gnuplot") and len(levels_of(by.get(sc, []))) > 1:
        return [f"![{sc} throughput]({sc}-throughput.png) ![{sc} p99]({sc}-p99.png)", ""]
    return []


smoke = meta.get("smoke") == "1"
lines = ["# Plexus vs the official TypeScript SDK — benchmark report", ""]
lines += [
    f"- Date (UTC): {meta.get('date_utc', '?')}" + ("  **(smoke run: tiny durations and sizes, "
                                                     "numbers meaningless)**" if smoke else ""),
    f"- Machine: {meta.get('host', '?')}; CPU: {meta.get('cpu', '?')}; nproc = {meta.get('nproc', '?')}",
    f"- Load average (1/5/15 min) before: {meta.get('load_before', '?')}; after: "
    f"{meta.get('load_after', '?')}; runnable processes before/after: "
    f"{meta.get('procs_running_before', '?')}/{meta.get('procs_running_after', '?')}",
    f"- Busiest processes at start: {meta.get('top_before', '?')}",
    "- Compare rows of the same run only: absolute numbers depend on the machine and on whatever "
    "else ran on it (see the load average above).",
    f"- Foreign load: each row notes (`foreign=`) the CPU time that processes other than its server "
    f"and load generator used while it was measured, in % of one core; a row over "
    f"{meta.get('foreign_max', '10')}% was measured again (up to {meta.get('repeats', '3')} "
    f"attempts) and the quietest attempt kept. Cold start always makes "
    f"{meta.get('repeats', '3')} attempts and keeps the median one (by first-result p50).",
    f"- Pinning (server / load generator): {meta.get('pinning', '?')}",
    f"- Measured run: {meta.get('duration', '?')} s after a {meta.get('warmup', '?')} s warm-up, "
    f"per row; levels: {meta.get('levels', '?')}",
    f"- Plexus: `{meta.get('plexus', '?')}`; node {meta.get('node', '?')}; {meta.get('wrk', '?')}",
    f"- Sizes: payload {meta.get('payload_bytes', '?')} B; list {meta.get('list_tools', '?')} "
    f"extra tools; {meta.get('cold', '?')} cold starts; {meta.get('sessions', '?')} abandoned "
    f"sessions; {meta.get('streams', '?')} listen streams; churn (batches, sessions) "
    f"{meta.get('churn', '?')}; open-file limit {meta.get('fd_limit', '?')}",
    "- Latencies in milliseconds; RSS = server peak (VmHWM; for gateways the sum over the "
    "gateway and its upstream processes); CPU = server user+system seconds during the measured "
    "run (same process tree); errors = transport errors + non-200 + answers without the echo.",
    "",
]

for sc, title, axis, peers in LOAD_SCENARIOS:
    rs = by.get(sc)
    if not rs:
        continue
    title = title.format(bytes=meta.get("payload_bytes", "65536"),
                         tools=meta.get("list_tools", "1000"))
    lines += [f"## {sc}", "", title, ""]
    lines += load_table(rs, axis)
    lines += ratio_table(rs, axis, peers)
    lines += chart_ref(sc)
    if sc.startswith("list1000") and not any(r["impl"] == "plexus" for r in rs):
        lines += ["Plexus rows missing: the binary has no `everything --extra-tools` option.", ""]

# ---- gateway ----------------------------------------------------------------------------------
HOPS = [("plexus-direct", "plexus-gw-stdio", "plexus gateway → stdio child `plexus everything`"),
        ("plexus-direct", "plexus-gw-stdio-host",
         "the same, the caller declaring roots, sampling and elicitation"),
        ("plexus-direct", "plexus-gw-http", "plexus gateway → HTTP upstream `plexus everything`"),
        ("ts-v1-direct", "ts-gw-ts-v1", "TS v1 gateway → stdio TS v1 server"),
        ("ts-v1-direct", "ts-gw-plexus", "TS v1 gateway → stdio `plexus everything`")]
rs = by.get("gateway")
if rs:
    lines += ["## gateway", "",
              "tools/call echo at N connections: directly to a server, and through one gateway "
              "hop. Plexus: `plexus everything --http` vs `plexus gateway` (one upstream, "
              "`prefix: \"\"`) whose upstream is a stdio child or a separate HTTP server; modern "
              "2026-07-28 requests (wrk). TypeScript: the v1 stateless server vs "
              "`bench/peers/ts_gateway.mjs` (v1 stateless HTTP server forwarding each call "
              "through a v1 Client over stdio); 2025-11-25 stateless requests. RSS and CPU cover "
              "the gateway and its upstream.", "",
              "CPU per call is the CPU time of the server's process tree (the gateway and its "
              "upstream) over the calls it answered. Where the rows' processes share one core, "
              "direct CPU per call ÷ hop CPU per call is the most throughput the hop can keep "
              "once that core is busy (the \"CPU allows\" column).", ""]
    lines += load_table(rs, "connections")

    def cpu_per_call(impl, lv):
        cpu, n = g("gateway", impl, lv, "cpu_s"), g("gateway", impl, lv, "requests")
        return None if cpu is None or not n else 1e6 * cpu / n

    lines += ["| hop | connections | direct req/s | hop req/s | throughput kept | direct p50 | "
              "hop p50 | added p50 | direct CPU/call | hop CPU/call | CPU allows |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for d, h, label in HOPS:
        for lv in levels_of(rs):
            dt, ht = g("gateway", d, lv, "throughput"), g("gateway", h, lv, "throughput")
            dp, hp = g("gateway", d, lv, "p50_us"), g("gateway", h, lv, "p50_us")
            if ht is None and hp is None:
                continue
            kept = "—" if dt is None or ht is None or not dt else f"{100 * ht / dt:.0f}%"
            added = "—" if dp is None or hp is None else f"{hp - dp:+.0f} µs"
            dc, hc = cpu_per_call(d, lv), cpu_per_call(h, lv)
            allows = "—" if dc is None or not hc else f"{100 * dc / hc:.0f}%"
            lines.append(f"| {label} | {lv} | {fmt_rate(dt)} | {fmt_rate(ht)} | {kept} | "
                         f"{fmt_ms(dp)} | {fmt_ms(hp)} | {added} | "
                         f"{'—' if dc is None else f'{dc:.1f} µs'} | "
                         f"{'—' if hc is None else f'{hc:.1f} µs'} | {allows} |")
    lines.append("")
    lines += ["| connections | Plexus gw (stdio) / TS gw (TS v1) req/s | "
              "Plexus gw (stdio) / TS gw (Plexus upstream) req/s |", "|---:|---:|---:|"]
    for lv in levels_of(rs):
        a = g("gateway", "plexus-gw-stdio", lv, "throughput")
        lines.append(f"| {lv} | {fmt_ratio(a, g('gateway', 'ts-gw-ts-v1', lv, 'throughput'))} | "
                     f"{fmt_ratio(a, g('gateway', 'ts-gw-plexus', lv, 'throughput'))} |")
    lines.append("")
    lines += chart_ref("gateway")

# ---- coldstart --------------------------------------------------------------------------------
rs = by.get("coldstart")
if rs:
    cal_first = g("coldstart", "calibration", "first", "p50_us")
    cal_exit = g("coldstart", "calibration", "exit", "p50_us")
    lines += ["## coldstart", "",
              f"{meta.get('cold', '?')} times: spawn the stdio server, `initialize`, "
              "`notifications/initialized`, `tools/call echo`, wait for the result (first "
              "result), close stdin, wait for the exit. The calibration responder's row is the "
              "probe's own cost (fork/exec, pipes, the pinning wrapper); \"beyond the probe\" "
              "subtracts its p50. RSS = largest peak RSS of one start; CPU = mean CPU seconds per "
              "start.", "",
              "| impl | starts | first result p50 | p90 | p99 | exit p50 | exit p90 | first result "
              "beyond the probe | exit beyond the probe | RSS MB | CPU ms/start | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for impl in [r["impl"] for r in rs if r["level"] == "first"]:
        f50, f90, f99 = (g("coldstart", impl, "first", k) for k in ("p50_us", "p90_us", "p99_us"))
        e50, e90 = g("coldstart", impl, "exit", "p50_us"), g("coldstart", impl, "exit", "p90_us")
        bf = "—" if f50 is None or cal_first is None else f"{(f50 - cal_first) / 1000:.2f} ms"
        be = "—" if e50 is None or cal_exit is None else f"{(e50 - cal_exit) / 1000:.2f} ms"
        cpu = g("coldstart", impl, "first", "cpu_s")
        n = g("coldstart", impl, "first", "requests")
        lines.append(
            f"| {impl} | {'—' if n is None else int(n)} | {fmt_ms(f50)} | {fmt_ms(f90)} | "
            f"{fmt_ms(f99)} | {fmt_ms(e50)} | {fmt_ms(e90)} | {bf} | {be} | "
            f"{fmt_mb(g('coldstart', impl, 'first', 'rss_kb'))} | "
            f"{'—' if cpu is None else f'{cpu * 1000:.1f}'} | "
            f"{(g('coldstart', impl, 'first', 'errors') or 0):.0f} |")
    lines.append("")

# ---- memory -----------------------------------------------------------------------------------
rs = by.get("memory")
if rs:
    lines += ["## memory", ""]
    idle = [r for r in rs if r["level"].startswith("idle")]
    if idle:
        lines += ["### Idle process", "",
                  "VmRSS one second after the start (HTTP: after the port accepts; stdio: stdin "
                  "held open, nothing sent).", "",
                  "| impl | transport | RSS MB |", "|---|---|---:|"]
        for r in idle:
            lines.append(f"| {r['impl']} | {r['level'][5:]} | {fmt_mb(num(r['rss_kb']))} |")
        lines.append("")

    def per_item_rows(level, what):
        t = []
        for r in rs:
            if r["level"] != level:
                continue
            e = extra(r)
            t.append(f"| {r['impl']} | {r['requests'] or '—'} | {r['errors'] or '—'} | "
                     f"{fmt_mb(num(e.get('rss_before_kb')))} | {fmt_mb(num(e.get('rss_after_kb')))} | "
                     f"{fmt_bytes(num(e.get('per_item_b')))} |"
                     + (f" {fmt_mb(num(e.get('rss_closed_kb')))} |" if what == "stream" else "")
                     + f" {fmt_ms(num(r['p50_us']))} |")
        return t

    t = per_item_rows("sessions", "session")
    if t:
        lines += ["### Abandoned legacy sessions", "",
                  "Each: `initialize` + `notifications/initialized` over HTTP (one keep-alive "
                  "connection), never used again; RSS read after a settle pause, before and "
                  "after, a few warm-up sessions first (not counted). Plexus runs with "
                  "`--max-sessions` above the count (the default 10,000 would evict).", "",
                  "| impl | sessions | errors | RSS before MB | RSS after MB | per session | "
                  "open p50 (ms) |", "|---|---:|---:|---:|---:|---:|---:|"] + t + [""]
    t = per_item_rows("listen", "stream")
    if t:
        lines += ["### Open `subscriptions/listen` streams", "",
                  "Each: its own connection, a 2026-07-28 POST `subscriptions/listen` "
                  "(`MCP-Protocol-Version`, `Mcp-Method` headers, tools/prompts/resources "
                  "list-changed filter), read up to the acknowledgement, then kept open. "
                  "Plexus accepts at most `--max-connections` connections at once (default "
                  "10,000; `bench/run` raises it when more streams are asked for). "
                  "\"RSS closed\" = after every stream was closed "
                  "again (memory returned to the system or not).", "",
                  "| impl | streams | errors | RSS before MB | RSS after MB | per stream | "
                  "RSS closed MB | open p50 (ms) |", "|---|---:|---:|---:|---:|---:|---:|---:|"] + \
            t + [""]
    churn = [r for r in rs if r["level"].startswith("churn") or r["level"] in ("start", "abandoned")]
    if churn:
        lines += ["### Session churn", "",
                  "Batches of sessions doing `initialize` → `notifications/initialized` → "
                  "`tools/call echo` → `DELETE`, then one batch of abandoned sessions; RSS after "
                  "each batch. Growth that stops after the first batch is warm-up; growth in "
                  "every batch is a leak.", "",
                  "| impl | phase | sessions | errors | RSS after MB | growth | growth per session "
                  "| sessions/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in churn:
            e = extra(r)
            b, a = num(e.get("rss_before_kb")), num(e.get("rss_after_kb"))
            grow = "—" if a is None or b is None else f"{a - b:+,.0f} KB"
            lines.append(f"| {r['impl']} | {r['level']} | {r['requests'] or '—'} | "
                         f"{r['errors'] or '—'} | {fmt_mb(a)} | {grow} | "
                         f"{fmt_bytes(num(e.get('per_item_b')))} | {fmt_rate(num(r['throughput']))} |")
        lines.append("")
        if shutil.which("gnuplot"):
            lines += ["![RSS across churn batches](memory-churn.png)", ""]

# ---- targets ----------------------------------------------------------------------------------
def check(label, value, ok):
    if value is None:
        return f"| {label} | not measured | — |"
    return f"| {label} | {value} | {'met' if ok else 'NOT met'} |"


def ratio_target(label, sc, lv, peer, minimum):
    a, b = g(sc, "plexus", lv, "throughput"), g(sc, peer, lv, "throughput")
    ok = a is not None and b and a / b >= minimum
    return check(label, None if a is None or not b else f"{a / b:.1f}×", ok)


t = []
t.append(ratio_target("modern HTTP, 16 conns: ≥ 25× TS v1 stateless", "http-modern", "16",
                      "ts-v1-stateless", 25))
a, c = g("http-modern", "plexus", "16", "throughput"), g("http-modern", "calibration", "16", "throughput")
t.append(check("modern HTTP, 16 conns: ≥ 60% of calibration",
               None if a is None or not c else f"{100 * a / c:.0f}%", a is not None and c and a / c >= 0.6))
p = g("http-modern", "plexus", "64", "p99_us")
t.append(check("modern HTTP, 64 conns: p99 < 2 ms", None if p is None else f"{p / 1000:.2f} ms",
               p is not None and p < 2000))
t.append(ratio_target("legacy HTTP, 16 conns: ≥ 8× TS v1 stateful SSE", "http-legacy", "16",
                      "ts-v1-stateful-sse", 8))
t.append(ratio_target("stdio, window 64: ≥ 4× TS v1", "stdio", "64", "ts-v1", 4))
a, b = g("stdio", "plexus", "1", "p50_us"), g("stdio", "calibration", "1", "p50_us")
t.append(check("stdio, window 1: p50 within 1.5× of calibration",
               None if a is None or not b else f"{a / b:.2f}×", a is not None and b and a / b <= 1.5))
t.append(ratio_target("64 KiB payload, stdio window 16: ≥ 10× TS v1", "payload-stdio", "16", "ts-v1", 10))
t.append(ratio_target("64 KiB payload, HTTP 16 conns: ≥ 10× TS v1 stateless", "payload-http", "16",
                      "ts-v1-stateless", 10))
t.append(ratio_target("1,000-tool list, stdio window 16: ≥ 10× TS v1", "list1000-stdio", "16",
                      "ts-v1", 10))
t.append(ratio_target("1,000-tool list, HTTP 16 conns: ≥ 10× TS v1 stateless", "list1000-http", "16",
                      "ts-v1-stateless", 10))
for h, label in (("plexus-gw-stdio", "stdio upstream"), ("plexus-gw-http", "HTTP upstream")):
    d, x = g("gateway", "plexus-direct", "1", "p50_us"), g("gateway", h, "1", "p50_us")
    t.append(check(f"gateway hop ({label}), 1 conn: adds ≤ 30 µs p50",
                   None if d is None or x is None else f"{x - d:+.0f} µs",
                   d is not None and x is not None and x - d <= 30))
    lv = "16" if g("gateway", h, "16", "throughput") is not None else None
    if lv is None:
        lvs = [r["level"] for r in by.get("gateway", []) if r["impl"] == h]
        lv = lvs[-1] if lvs else "16"
    d, x = g("gateway", "plexus-direct", lv, "throughput"), g("gateway", h, lv, "throughput")
    t.append(check(f"gateway hop ({label}), {lv} conns: keeps ≥ 70% of direct throughput",
                   None if x is None or not d else f"{100 * x / d:.0f}%",
                   x is not None and d and x / d >= 0.7))
for lv, label in (("idle-http", "HTTP"), ("idle-stdio", "stdio")):
    v = g("memory", "plexus", lv, "rss_kb")
    t.append(check(f"idle process ({label}): < 10 MB RSS", None if v is None else f"{v / 1024:.1f} MB",
                   v is not None and v < 10 * 1024))
v = g("memory", "plexus", "sessions", "per_item_b")
n = g("memory", "plexus", "sessions", "requests")
t.append(check(f"abandoned legacy session: ≤ 4 KB each{'' if n is None else f' ({n:,.0f} sessions)'}",
               None if v is None else fmt_bytes(v), v is not None and v <= 4096))
v = g("memory", "plexus", "listen", "per_item_b")
n = g("memory", "plexus", "listen", "requests")
t.append(check(f"idle listen stream: ≤ 8 KB each{'' if n is None else f' ({n:,.0f} streams)'}",
               None if v is None else fmt_bytes(v), v is not None and v <= 8192))
# Churn: no growth after the first batch (warm-up). Allowance: 64 B per churned session, well
# under one session's footprint: allocator noise, not a leak.
ch = [r for r in by.get("memory", []) if r["impl"] == "plexus" and r["level"].startswith("churn")]
if len(ch) >= 2:
    first_after = num(extra(ch[0]).get("rss_after_kb"))
    last_after = num(extra(ch[-1]).get("rss_after_kb"))
    sessions = sum(num(r["requests"]) or 0 for r in ch[1:])
    if first_after is not None and last_after is not None and sessions:
        per = (last_after - first_after) * 1024 / sessions
        t.append(check(f"churn: no growth across batches 2–{len(ch)}",
                       f"{last_after - first_after:+,.0f} KB ({fmt_bytes(per)}/session)", per <= 64))
    else:
        t.append(check("churn: no growth across repeated batches", None, False))
else:
    t.append(check("churn: no growth across repeated batches", None, False))
a, b = g("coldstart", "plexus", "first", "p50_us"), g("coldstart", "calibration", "first", "p50_us")
t.append(check("cold start (spawn → first result): < 5 ms beyond the probe",
               None if a is None or b is None else f"{(a - b) / 1000:.2f} ms",
               a is not None and b is not None and a - b < 5000))
micro = os.path.join(out, "micro.txt")
if os.path.exists(micro):
    with open(micro) as f:
        lines += ["## micro: the hot path inside the engine", "",
                  "`tools/call echo` decoded, routed, validated, handled and encoded by the engine "
                  "without a transport (bench/micro/hot_path.cpp), and the instructions it takes "
                  "under callgrind (deterministic: compare across commits).", "", "```",
                  f.read().rstrip(), "```", ""]
lines += ["## Targets (from the benchmark issue) on this run", "",
          "| target | measured | status |", "|---|---:|---|"] + t + [""]
if smoke:
    lines += ["Smoke run: sizes and durations are tiny; the statuses above mean nothing.", ""]

with open(os.path.join(out, "report.md"), "w") as f:
    f.write("\n".join(lines))

# ---- charts -----------------------------------------------------------------------------------
if shutil.which("gnuplot"):
    terms = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    term = ("set terminal pngcairo size 900,540 noenhanced\n"
            if "pngcairo" in terms.stderr + terms.stdout
            else "set terminal png size 900,540 noenhanced\n")
    chart_scenarios = [(sc, axis) for sc, _, axis, _ in LOAD_SCENARIOS] + [("gateway", "connections")]
    for sc, axis in chart_scenarios:
        rs = by.get(sc)
        if not rs or len(levels_of(rs)) < 2:
            continue
        impls = []
        for r in rs:
            if r["impl"] not in impls:
                impls.append(r["impl"])
        blocks = []
        for impl in impls:
            pts = [(r["level"], r["throughput"], r["p99_us"]) for r in rs
                   if r["impl"] == impl and num(r["throughput"])]
            blocks.append((impl, pts))
        dat = os.path.join(out, f"{sc}.dat")
        with open(dat, "w") as f:
            for impl, pts in blocks:
                f.write(f'"{impl}"\n')
                for lv, tp, p99 in pts:
                    f.write(f"{lv} {tp} {num(p99) / 1000 if num(p99) else 0}\n")
                f.write("\n\n")
        for kind, col, ylabel in (("throughput", 2, "requests/s"), ("p99", 3, "p99 latency (ms)")):
            plots = ", ".join(
                f"'{dat}' index {i} using 1:{col} with linespoints title '{impl}'"
                for i, (impl, pts) in enumerate(blocks) if pts)
            if not plots:
                continue
            script = term + (f"set output '{os.path.join(out, f'{sc}-{kind}.png')}'\n"
                             f"set title '{sc}: {ylabel} vs {axis}'\nset xlabel '{axis}'\n"
                             f"set ylabel '{ylabel}'\nset logscale x 2\nset logscale y 10\nset grid\n"
                             "set key outside right\n"
                             f"plot {plots}\n")
            subprocess.run(["gnuplot"], input=script, text=True, check=False)
    # RSS after each churn phase, one line per implementation
    churn = [r for r in by.get("memory", [])
             if r["level"].startswith("churn") or r["level"] in ("start", "abandoned")]
    if churn:
        impls = []
        for r in churn:
            if r["impl"] not in impls:
                impls.append(r["impl"])
        dat = os.path.join(out, "memory-churn.dat")
        with open(dat, "w") as f:
            for impl in impls:
                f.write(f'"{impl}"\n')
                for i, r in enumerate(x for x in churn if x["impl"] == impl):
                    f.write(f"{i} {(num(r['rss_kb']) or 0) / 1024} {r['level']}\n")
                f.write("\n\n")
        plots = ", ".join(f"'{dat}' index {i} using 1:2:xtic(3) with linespoints title '{impl}'"
                          for i, impl in enumerate(impls))
        script = term + (f"set output '{os.path.join(out, 'memory-churn.png')}'\n"
                         "set title 'RSS after each churn batch'\nset xlabel 'phase'\n"
                         "set ylabel 'RSS (MB)'\nset grid\nset key outside right\n"
                         f"plot {plots}\n")
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
