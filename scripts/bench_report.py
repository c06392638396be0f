#!/usr/bin/env python3
"""Gathers the `BENCH {json}` lines of scripts/bench.sh's run into summary.json, summary.md and latency.svg.

Usage: bench_report.py RAW OUT_DIR [--docs PERFORMANCE_MD SVG_PATH]
With --docs, the tables replace what sits between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers of
PERFORMANCE_MD, and the plot is copied to SVG_PATH.
"""
import json
import math
import os
import platform
import subprocess
import sys
import time

# Goals of issue 22: (label, figure name, field, comparison, target, unit).
GOALS = [
    ("cached decision, p50", "decide: allowed, facts cached", "p50_ns", "<=", 800, "ns"),
    ("cached decision, p99", "decide: allowed, facts cached", "p99_ns", "<=", 1500, "ns"),
    ("CI job token, cached, p50", "decide: CI job token, verification and facts cached", "p50_ns", "<=", 1500, "ns"),
    ("unknown token, p50", "authenticate: unknown token (remembered as unknown)", "p50_ns", "<=", 200, "ns"),
    ("malformed token, p50", "authenticate: malformed token (bad checksum)", "p50_ns", "<=", 200, "ns"),
    ("unknown token, whole decision (path and route too), p50", "decide: unknown token", "p50_ns", "<=", 200, "ns"),
    ("cache miss on SQLite, p50", "decide: cache miss on SQLite (every fact read)", "p50_ns", "<=", 50_000, "ns"),
    ("cache miss on PostgreSQL (same machine), p50", "decide: cache miss on PostgreSQL (every fact read)", "p50_ns", "<=", 300_000, "ns"),
    ("cache miss on PostgreSQL, CI job token, p50", "decide: CI job token, cache miss on PostgreSQL (every fact read, its signature checked before)", "p50_ns", "<=", 300_000, "ns"),
    ("cache miss on PostgreSQL, deploy token clone, p50", "decide: deploy token clone, cache miss on PostgreSQL (every fact read)", "p50_ns", "<=", 300_000, "ns"),
    ("forward-auth / trivial handler", "forward-auth / trivial handler", "value", ">=", 0.8, "x"),
    ("forward-auth p99 at 64 connections", "forward-auth (POST issues through /-/auth)", "p99_ns", "<=", 1_000_000, "ns"),
    ("decision API, batches of 1,000", "decision API, batches of 1,000", "value", ">=", 1_000_000, "decisions/s"),
]


def human(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e5:
        return f"{ns / 1e3:.0f} µs"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.3f} µs"
    return f"{ns:.0f} ns"


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
    }


def read(raw):
    figures = []
    for line in open(raw, encoding="utf-8"):
        if line.startswith("BENCH "):
            figures.append(json.loads(line[len("BENCH "):]))
    return figures


def find(figures, name):
    for f in figures:
        if f.get("name") == name:
            return f
    return None


def fine_grained_goal(figures):
    fine = find(figures, "decide: fine-grained token (20 grants, 20 rules), facts cached")
    legacy = find(figures, "decide: allowed, facts cached")
    if not fine or not legacy:
        return None
    gap = fine["p50_ns"] - legacy["p50_ns"]
    return ("fine-grained (20 grants, 20 rules) − legacy, p50", human(gap), "≤ 200 ns", gap <= 200)


def goals_table(figures):
    rows = []
    for label, name, field, op, target, unit in GOALS:
        f = find(figures, name)
        value = f.get(field) if f else None
        if value is None:
            rows.append((label, "not measured", f"{'≤' if op == '<=' else '≥'} {target:,}", None))
            continue
        met = value <= target if op == "<=" else value >= target
        if unit == "x":
            shown, wanted_value = f"{value:.2f}×", f"{target}×"
        elif unit == "ns":
            shown, wanted_value = human(value), human(target)
        else:
            shown, wanted_value = f"{value:,.0f} {unit}", f"{target:,.0f} {unit}"
        wanted = f"{'≤' if op == '<=' else '≥'} {wanted_value}"
        rows.append((label, shown, wanted, met))
    fg = fine_grained_goal(figures)
    if fg:
        rows.insert(3, fg)
    # Beside the goals: the same requests decided anew, after a change elsewhere (no kept decision, each thread's
    # copies of the facts stale, the facts themselves still cached).
    anew = find(figures, "decide anew: allowed, facts cached (a change elsewhere since)")
    fine_anew = find(figures, "decide anew: fine-grained token (20 grants, 20 rules), facts cached (a change elsewhere since)")
    if anew:
        rows.insert(2, ("(beside it) cached decision decided anew after a change elsewhere, p50 / p99",
                        f"{human(anew['p50_ns'])} / {human(anew['p99_ns'])}", "–", None))
    if anew and fine_anew:
        gap = fine_anew["p50_ns"] - anew["p50_ns"]
        rows.insert(5, ("(beside it) fine-grained − legacy, both decided anew, p50", human(gap), "–", None))
    first_job = find(figures, "decide: a new CI job token's first request (RS256 verified)")
    bare = find(figures, "a bare RS256 JWT verification of a job token's claims (tokens::jwt::verify)")
    short = find(figures, "a bare RS256 JWT verification of four short claims (tokens::jwt::verify)")
    if first_job and bare:
        ratio = first_job["p50_ns"] / bare["p50_ns"]
        label = "CI job token, first sight / bare RS256 verification of the same claims, p50"
        rows.insert(4, (label, f"{ratio:.2f}×", "≤ 1.2×", ratio <= 1.2))
    if first_job and short:
        ratio = first_job["p50_ns"] / short["p50_ns"]
        label = "(beside it) first sight / bare RS256 verification of four short claims, p50"
        rows.insert(5, (label, f"{ratio:.2f}×", "–", None))
    memory = next((f for f in figures if f.get("name", "").startswith("resident memory per cached token")), None)
    if memory:
        rows.append(("resident memory per cached token (slope)", f"{memory['value']:.0f} bytes", "≤ 300 bytes", memory["value"] <= 300))
    single = next((f for f in figures if f.get("name", "").startswith("(beside it) memory per cached token")), None)
    if single:
        rows.append(("(beside it) one difference of two readings", f"{single['value']:.0f} bytes", "–", None))
    cold = next((f for f in figures if f.get("name", "").startswith("cold start")), None)
    if cold:
        rows.append((cold["name"], f"{cold['value']:.0f} ms", "≤ 2000 ms", cold["value"] <= 2000))
    out = ["| goal | measured | target | met |", "| --- | --- | --- | --- |"]
    for label, shown, wanted, met in rows:
        out.append(f"| {label} | {shown} | {wanted} | {'yes' if met else ('no' if met is not None else '–')} |")
    return out


def latency_table(figures, suite):
    out = ["| measurement | p50 | p99 | p99.9 | max | calls |", "| --- | --- | --- | --- | --- | --- |"]
    for f in figures:
        if f.get("suite") == suite and "p50_ns" in f:
            out.append(
                f"| {f['name']} | {human(f['p50_ns'])} | {human(f['p99_ns'])} | {human(f.get('p999_ns'))} "
                f"| {human(f.get('max_ns'))} | {f.get('calls', '')} |"
            )
    return out


def peers_table(figures):
    base = find(figures, "Tessera decide_request: allowed")
    out = ["| engine, question | p50 | p99 | p50 / Tessera's whole decision |", "| --- | --- | --- | --- |"]
    for f in figures:
        if f.get("suite") == "peers":
            ratio = f"{f['p50_ns'] / base['p50_ns']:.2f}×" if base else "–"
            out.append(f"| {f['name']} | {human(f['p50_ns'])} | {human(f['p99_ns'])} | {ratio} |")
    return out


def load_table(figures):
    out = ["| over HTTP (wrk, keep-alive) | requests/s | p50 | p90 | p99 |", "| --- | --- | --- | --- | --- |"]
    for f in figures:
        if f.get("suite") == "load" and "rps" in f:
            rps = f"{f['rps']:.0f}" if f.get("rps") else "–"
            out.append(
                f"| {f['name']} ({f.get('connections')} connections) | {rps} | {human(f.get('p50_ns'))} "
                f"| {human(f.get('p90_ns'))} | {human(f.get('p99_ns'))} |"
            )
    for f in figures:
        if f.get("suite") == "load" and "value" in f:
            value = f"{f['value']:,.0f}" if f["value"] >= 1000 else f"{f['value']:.2f}"
            out.append(f"| {f['name']} | {value} {f['unit']} | | | |")
    return out


def markdown(figures, info):
    lines = [
        f"Last run: {info['date']}, commit `{info['commit']}`, on {info['cores']} cores of {info['cpu']} "
        f"(Linux {info['kernel']}).",
        "",
        "### Goals (issue 22)",
        "",
        *goals_table(figures),
        "",
        "### The in-process decision (`cargo bench -p bench --bench authority`)",
        "",
        *latency_table(figures, "authority"),
        "",
        "### Beside the peers (`cargo bench -p bench --bench peers`)",
        "",
        *peers_table(figures),
        "",
        "### Over HTTP (`scripts/load.sh`)",
        "",
        *load_table(figures),
        "",
        "![Latency distribution of each way in](performance-latency.svg)",
    ]
    return "\n".join(lines) + "\n"


# Series of the plot: (figure name, label, colour).
SERIES = [
    ("decide: allowed, facts cached", "in-process decision, personal token", "#1f77b4"),
    ("decide: CI job token, verification and facts cached", "in-process, CI job token", "#17becf"),
    ("decide: deploy token clone, facts cached", "in-process, deploy token (Git)", "#9467bd"),
    ("authenticate: unknown token (remembered as unknown)", "unknown token", "#7f7f7f"),
    ("floor: allowed", "hand-written floor", "#2ca02c"),
    ("Cedar: allowed", "Cedar is_authorized", "#ff7f0e"),
    ("casbin: allowed", "casbin enforce", "#d62728"),
    ("trivial handler (GET /-/health)", "HTTP: trivial handler", "#bcbd22"),
    ("forward-auth (POST issues through /-/auth)", "HTTP: forward-auth", "#e377c2"),
    ("authenticated GET /api/v4/user (facts cached)", "HTTP: REST GET /user", "#8c564b"),
]


def cdf_points(f):
    """Points (latency ns, fraction) of a figure's distribution: its histogram when it has one, else its
    percentiles."""
    if f.get("histogram"):
        total = sum(c for _, c in f["histogram"])
        seen, points = 0.0, []
        for bound, count in f["histogram"]:
            seen += count
            points.append((bound, seen / total))
        return points
    points = [(f[f"p{q}_ns"], int(q) / 100) for q in ("50", "75", "90", "99") if f.get(f"p{q}_ns")]
    return points


def svg(figures):
    width, height, left, right, top, bottom = 900, 520, 70, 250, 30, 50
    lo, hi = 10.0, 1e8
    px = lambda ns: left + (math.log10(max(lo, min(hi, ns))) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (width - left - right)
    py = lambda frac: top + (1 - frac) * (height - top - bottom)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">Latency distribution of each way in (cumulative; log scale)</text>',
    ]
    for exp in range(1, 9):
        x = px(10**exp)
        label = human(10**exp).replace(".000", "").replace(".00", "")
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{label}</text>')
    for frac in (0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0):
        y = py(frac)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{frac:.0%}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">latency</text>')
    legend_y = top + 10
    for name, label, colour in SERIES:
        f = find(figures, name)
        if not f:
            continue
        points = cdf_points(f)
        if not points:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(ns):.1f},{py(frac):.1f}" for i, (ns, frac) in enumerate(points))
        dash = ' stroke-dasharray="5,3"' if "histogram" not in f else ""
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        parts.append(f'<line x1="{width - right + 15}" y1="{legend_y}" x2="{width - right + 35}" y2="{legend_y}" stroke="{colour}" stroke-width="3"{dash}/>')
        parts.append(f'<text x="{width - right + 40}" y="{legend_y + 4}">{label}</text>')
        legend_y += 20
    parts.append(f'<text x="{width - right + 15}" y="{legend_y + 10}" fill="#555">dashed: wrk percentiles</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    figures = read(raw)
    info = machine()
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"machine": info, "figures": figures}, f, indent=1)
    md = markdown(figures, info)
    with open(os.path.join(out_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(md)
    plot = svg(figures)
    with open(os.path.join(out_dir, "latency.svg"), "w", encoding="utf-8") as f:
        f.write(plot)
    print(md)
    if "--docs" in sys.argv:
        doc, svg_path = sys.argv[sys.argv.index("--docs") + 1 : sys.argv.index("--docs") + 3]
        text = open(doc, encoding="utf-8").read()
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        with open(doc, "w", encoding="utf-8") as f:
            f.write(head + begin + "\n" + md + end + tail)
        with open(svg_path, "w", encoding="utf-8") as f:
            f.write(plot)


if __name__ == "__main__":
    main()
