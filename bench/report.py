#!/usr/bin/env python3
"""bench/report.py OUT: turns OUT/results.tsv + OUT/meta.env (written by bench/run) into
OUT/report.md and, when gnuplot is installed, OUT/<scenario>-throughput.png and
OUT/<scenario>-p99.png. Standard library only."""
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


SCENARIOS = [
    ("stdio", "stdio, tools/call echo, pipelined window (requests in flight)", "window",
     ["ts-v1"]),
    ("http-modern", "Streamable HTTP, stateless, tools/call echo (Plexus and TS v2: 2026-07-28 "
     "envelope + headers; TS v1: its stateless mode, 2025-11-25 without a session)", "connections",
     ["ts-v1-stateless", "ts-v2"]),
    ("http-legacy", "Streamable HTTP, legacy session (initialize once, Mcp-Session-Id; SSE "
     "responses)", "connections", ["ts-v1-stateful-sse"]),
]


def fmt_rate(v):
    return "—" if v is None else f"{v:,.0f}"


def fmt_ms(us):
    return "—" if us is None else f"{us / 1000:.3f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


lines = ["# Plexus vs the official TypeScript SDK — benchmark report", ""]
lines += [
    f"- Date (UTC): {meta.get('date_utc', '?')}" + ("  **(smoke run: tiny durations, numbers "
                                                     "meaningless)**" if meta.get("smoke") == "1" else ""),
    f"- Machine: {meta.get('host', '?')}; CPU: {meta.get('cpu', '?')}; nproc = {meta.get('nproc', '?')}",
    f"- Load average (1/5/15 min) before: {meta.get('load_before', '?')}; after: "
    f"{meta.get('load_after', '?')}; runnable processes before/after: "
    f"{meta.get('procs_running_before', '?')}/{meta.get('procs_running_after', '?')}",
    f"- Busiest processes at start: {meta.get('top_before', '?')}",
    "- Other work (builds, tests of other engineers) was running on this machine during the run: "
    "absolute numbers are noisy; compare rows of the same run only.",
    f"- Pinning (server / load generator): {meta.get('pinning', '?')}",
    f"- Measured run: {meta.get('duration', '?')} s after a {meta.get('warmup', '?')} s warm-up, "
    f"per row; levels: {meta.get('levels', '?')}",
    f"- Plexus: `{meta.get('plexus', '?')}`; node {meta.get('node', '?')}; {meta.get('wrk', '?')}",
    "- Latencies in milliseconds; RSS = server peak (VmHWM); CPU = server user+system seconds "
    "during the measured run; errors = transport errors + non-200 + answers without the echo.",
    "",
]

by = {}
for r in rows:
    by.setdefault(r["scenario"], []).append(r)

for sc, title, axis, peers in SCENARIOS:
    rs = by.get(sc)
    if not rs:
        continue
    lines += [f"## {sc}", "", title, ""]
    lines += [f"| impl | {axis} | req/s | p50 | p90 | p99 | p99.9 | RSS MB | CPU s | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rs:
        rss = num(r["rss_kb"])
        lines.append(
            f"| {r['impl']} | {r['level']} | {fmt_rate(num(r['throughput']))} | "
            f"{fmt_ms(num(r['p50_us']))} | {fmt_ms(num(r['p90_us']))} | {fmt_ms(num(r['p99_us']))} | "
            f"{fmt_ms(num(r['p999_us']))} | {'—' if rss is None else f'{rss / 1024:.1f}'} | "
            f"{r['cpu_s'] or '—'} | {r['errors'] or '—'} |")
    lines.append("")
    # ratios
    levels = []
    for r in rs:
        if r["level"] not in levels:
            levels.append(r["level"])
    get = {(r["impl"], r["level"]): r for r in rs}
    head = [f"| {axis} |"] + [f" Plexus / {p} req/s | {p} / Plexus p99 |" for p in peers] + \
        [" Plexus / calibration req/s | Plexus p50 / calibration p50 |"]
    lines.append("".join(head))
    lines.append("|---:|" + "---:|---:|" * (len(peers) + 1))
    for lv in levels:
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
        lines.append("".join(cells))
    lines.append("")
    if os.path.exists(os.path.join(out, f"{sc}-throughput.png")) or shutil.which("gnuplot"):
        lines += [f"![{sc} throughput]({sc}-throughput.png) ![{sc} p99]({sc}-p99.png)", ""]

# Targets from the benchmark issue, evaluated on this run.
def g(sc, impl, lv, key):
    for r in by.get(sc, []):
        if r["impl"] == impl and r["level"] == lv:
            return num(r[key])
    return None


def check(label, value, ok):
    if value is None:
        return f"| {label} | not measured | — |"
    return f"| {label} | {value} | {'met' if ok else 'NOT met'} |"


t = []
a, b = g("http-modern", "plexus", "16", "throughput"), g("http-modern", "ts-v1-stateless", "16", "throughput")
t.append(check("modern HTTP, 16 conns: ≥ 25× TS v1 stateless", None if a is None or not b else f"{a / b:.1f}×",
               a is not None and b and a / b >= 25))
c = g("http-modern", "calibration", "16", "throughput")
t.append(check("modern HTTP, 16 conns: ≥ 60% of calibration", None if a is None or not c else f"{100 * a / c:.0f}%",
               a is not None and c and a / c >= 0.6))
p = g("http-modern", "plexus", "64", "p99_us")
t.append(check("modern HTTP, 64 conns: p99 < 2 ms", None if p is None else f"{p / 1000:.2f} ms",
               p is not None and p < 2000))
a, b = g("http-legacy", "plexus", "16", "throughput"), g("http-legacy", "ts-v1-stateful-sse", "16", "throughput")
t.append(check("legacy HTTP, 16 conns: ≥ 8× TS v1 stateful SSE", None if a is None or not b else f"{a / b:.1f}×",
               a is not None and b and a / b >= 8))
a, b = g("stdio", "plexus", "64", "throughput"), g("stdio", "ts-v1", "64", "throughput")
t.append(check("stdio, window 64: ≥ 4× TS v1", None if a is None or not b else f"{a / b:.1f}×",
               a is not None and b and a / b >= 4))
a, b = g("stdio", "plexus", "1", "p50_us"), g("stdio", "calibration", "1", "p50_us")
t.append(check("stdio, window 1: p50 within 1.5× of calibration", None if a is None or not b else f"{a / b:.2f}×",
               a is not None and b and a / b <= 1.5))
lines += ["## Targets (from the benchmark issue) on this run", "",
          "| target | measured | status |", "|---|---:|---|"] + t + [
    "", "Memory targets are not evaluated automatically; see the RSS columns and docs/benchmarks.md.", ""]

with open(os.path.join(out, "report.md"), "w") as f:
    f.write("\n".join(lines))

# Charts
if shutil.which("gnuplot"):
    for sc, title, axis, peers in SCENARIOS:
        rs = by.get(sc)
        if not rs:
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
            script = (
                "set terminal pngcairo size 900,540 noenhanced\n" if "pngcairo" in subprocess.run(
                    ["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stderr +
                subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stdout
                else "set terminal png size 900,540 noenhanced\n")
            script += (f"set output '{os.path.join(out, f'{sc}-{kind}.png')}'\n"
                       f"set title '{sc}: {ylabel} vs {axis}'\nset xlabel '{axis}'\n"
                       f"set ylabel '{ylabel}'\nset logscale x 2\nset logscale y 10\nset grid\n"
                       "set key outside right\n"
                       f"plot {plots}\n")
            subprocess.run(["gnuplot"], input=script, text=True, check=False)
