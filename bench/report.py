"""bench/run.py's figures -> the issue's targets, bench/RESULTS.md's table and a PNG plot."""

from __future__ import annotations

import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BARE, BARE_SERVER = "bare falcon+waitress", "bare on the service's server"


def _row(results: dict, case: str, connections: int) -> dict:
    return next(r for r in results["rows"] if r["case"] == case and r["connections"] == connections)


def _per_round(results: dict, case: str, figure: str, connections: int) -> list[float]:
    return [r[figure] for r in results["samples"][case][str(connections)]]


def _ratio_in_rounds(numerators: list[float], denominators: list[float]) -> float:
    """The median of the ratios taken within each round (cases of one round ran minutes
    apart at most, under the same load from elsewhere)."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def evaluate(results: dict) -> list[dict]:
    """Each target of issue #19 that this run measures, with its figure and whether it is met
    (memory per request in flight is bench/memory.py's)."""
    targets = []

    def target(text: str, figure: float, limit: float, below: bool = True) -> None:
        met = figure <= limit if below else figure >= limit
        targets.append({"target": text, "figure": round(figure, 3), "met": met})

    for connections in (8, 32):

        def per_round(case: str, figure: str, connections: int = connections) -> list[float]:
            return _per_round(results, case, figure, connections)

        target(
            f"no-transport floor CPU/request ≤ 1.5× bare Falcon on the same server "
            f"({connections} conns)",
            _ratio_in_rounds(
                per_round("no transport", "cpu_ms_per_message"),
                per_round(BARE_SERVER, "cpu_ms_per_message"),
            ),
            1.5,
        )
        target(
            f"file sink ≥ 0.5× the floor's throughput ({connections} conns)",
            _ratio_in_rounds(
                per_round("file sink", "requests_per_s"),
                per_round("no transport", "requests_per_s"),
            ),
            0.5,
            below=False,
        )
        target(
            f"postfix ≥ 0.9× smtp-source -s 8 ({connections} conns)",
            _ratio_in_rounds(
                per_round("postfix", "requests_per_s"), results["smtp_source_rounds_per_s"]
            ),
            0.9,
            below=False,
        )
    if results.get("crowd"):
        crowd = results["crowd"]
        target(
            "crowd into Postfix, 1–1,000 conns: errors + timeouts = 0",
            sum(r["errors"] + r["timeouts"] for r in crowd),
            0,
        )
        target(
            "crowd: every /health poll answered 200 (failures = 0)",
            sum(r["health_failures"] for r in crowd),
            0,
        )
    service_rows = [r for r in results["rows"] if r["case"] not in (BARE, BARE_SERVER)]
    target(
        "idle RSS < 40 MB (largest of the service runs)",
        max(r["idle_rss_mb"] for r in service_rows),
        40,
    )
    target(
        "serve → first /health 200 < 1 s (slowest)", max(r["startup_s"] for r in service_rows), 1
    )
    return targets


def summary(results: dict) -> str:
    """What a user needs first: each case's throughput and p99, against the references."""
    bare = {c: _row(results, BARE, c) for c in (8, 32)}
    lines = [
        "| case | req/s, 8 / 32 conns | × bare | p99 ms, 8 / 32 | CPU ms/request |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in dict.fromkeys(r["case"] for r in results["rows"]):
        rows = [_row(results, case, c) for c in (8, 32)]
        ratio = " / ".join(
            f"{r['requests_per_s'] / bare[r['connections']]['requests_per_s']:.2f}" for r in rows
        )
        lines.append(
            f"| {case} | {rows[0]['requests_per_s']:.0f} / {rows[1]['requests_per_s']:.0f} "
            f"| {ratio} | {rows[0]['p99_ms']:.0f} / {rows[1]['p99_ms']:.0f} "
            f"| {rows[0]['cpu_ms_per_message']:.2f} / {rows[1]['cpu_ms_per_message']:.2f} |"
        )
    lines.append(f"| Postfix's own `smtp-source -s 8` | {results['smtp_source_per_s']:.0f} | | | |")
    service_rows = [r for r in results["rows"] if r["case"] not in (BARE, BARE_SERVER)]
    text = "\n".join(lines) + (
        f"\n\nMemory: {min(r['idle_rss_mb'] for r in service_rows):.0f}–"
        f"{max(r['idle_rss_mb'] for r in service_rows):.0f} MB idle, at most "
        f"{max(r['peak_rss_mb'] for r in service_rows):.0f} MB under this load (per request in "
        'flight: "Memory per request" below). Start to the first 200 on /health: '
        f"{max(r['startup_s'] for r in service_rows):.2f} s at most."
    )
    if results.get("crowd"):
        crowd = results["crowd"]
        top = crowd[-1]
        text += (
            f" A crowd into Postfix, 1 to {top['connections']:,} connections: "
            f"{min(r['requests_per_s'] for r in crowd):.0f}–{max(r['requests_per_s'] for r in crowd):.0f}"
            f" req/s, p99 {top['p99_ms']:.0f} ms at {top['connections']:,}, "
            f"{sum(r['errors'] + r['timeouts'] for r in crowd)} errors or timeouts, /health "
            f"answered within {max(r['health_worst_ms'] for r in crowd):.0f} ms throughout."
        )
    return text


def table(results: dict) -> str:
    lines = [
        "| case | conns | req/s | p50 ms | p99 ms | errors | CPU ms/msg | idle RSS MB | peak RSS MB | start s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['case']} | {r['connections']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['errors']} | {r['cpu_ms_per_message']:.3f} "
            f"| {r['idle_rss_mb']:.1f} | {r['peak_rss_mb']:.1f} | {r['startup_s']:.2f} |"
        )
    rates = " / ".join(f"{rate:.0f}" for rate in results["smtp_source_rounds_per_s"])
    lines.append(
        f"| smtp-source -s 8 into the same Postfix (each round's mean of a run just before and "
        f"one just after the postfix case: {rates}) | 8 sessions "
        f"| {results['smtp_source_per_s']:.0f} | | | | | | | |"
    )
    return "\n".join(lines)


def crowd_table(results: dict) -> str:
    lines = [
        "| conns | req/s | p50 ms | p99 ms | errors | timeouts | /health polls | failed | worst /health ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["crowd"]:
        lines.append(
            f"| {r['connections']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['errors']} | {r['timeouts']} | {r['health_polls']} "
            f"| {r['health_failures']} | {r['health_worst_ms']:.0f} |"
        )
    return "\n".join(lines)


def generated_section(results: dict) -> str:
    targets = "\n".join(
        f"- {'met' if t['met'] else '**not met**'}: {t['target']} — measured {t['figure']}"
        for t in results["targets"]
    )
    crowd = results["crowd"][0]
    return (
        f"{BEGIN}\n"
        f"Machine: {results['machine']}, shared with other engineers' test suites (load "
        f"average {results['load_average']} at the start): absolute figures are noisy, compare "
        "ratios within this run.  \n"
        f"Date: {results['date']}  \n"
        f"Command: `{results['command']}`: {results['rounds']} round(s) in turns, each case at 8 "
        f"and 32 connections for {results['seconds_per_run']} s of wrk (-t 2) after a 1 s "
        "warm-up; a case's figures are the median of its rounds, and each ratio below the "
        "median of the ratios within a round.\n\n"
        f"{summary(results)}\n\n"
        "![requests/s and p99 per case, and the crowd](results.png)\n\n"
        "### This run in full\n\n"
        f"{table(results)}\n\n"
        f"The crowd: the service into the same Postfix, {results['crowd_seconds']} s of wrk per "
        "level after a warm-up at that level, GET /health every 100 ms on a connection of its "
        f"own (the service's connection limit: {crowd['connection_limit']:,}):\n\n"
        f"{crowd_table(results)}\n\n"
        "Targets of issue #19 measured here, all from this run (bare Falcon on the service's "
        "server is the floor's reference: on stock waitress its event loop spins while a worker "
        "sends, engineering log, round 6):\n\n"
        f"{targets}\n"
        f"{END}"
    )


def write_marked(markdown: Path, name: str, command: str, table: str) -> None:
    """Replace the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in
    ``markdown`` with ``table``, headed by the command, the time and the load average."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    head, _, rest = markdown.read_text().partition(begin)
    _, _, tail = rest.partition(end)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    heading = f"`{command}`, {stamp}, load average {os.getloadavg()[0]:.1f}:"
    markdown.write_text(f"{head}{begin}\n{heading}\n\n{table}\n{end}{tail}")


def write_results(results: dict, markdown: Path, png: Path) -> None:
    """Replace the generated part of ``markdown`` (between its markers); draw ``png``."""
    text = markdown.read_text() if markdown.exists() else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    markdown.write_text(head + generated_section(results) + tail)
    plot(results, png)


def plot(results: dict, png: Path) -> None:
    import matplotlib  # the bench extra; bench/run.py checks for it before it starts

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in results["rows"]))
    figure, (rate, p99, crowd) = plt.subplots(1, 3, figsize=(16, 4.5))
    width = 0.38
    for offset, connections in ((-width / 2, 8), (width / 2, 32)):
        rows = [_row(results, case, connections) for case in cases]
        positions = [i + offset for i in range(len(cases))]
        rate.bar(
            positions, [r["requests_per_s"] for r in rows], width, label=f"{connections} conns"
        )
        p99.bar(positions, [r["p99_ms"] for r in rows], width, label=f"{connections} conns")
    rate.axhline(
        results["smtp_source_per_s"],
        color="grey",
        linestyle="--",
        label="smtp-source -s 8 into Postfix",
    )
    for axis, title in ((rate, "requests/s"), (p99, "p99 latency (ms, log)")):
        axis.set_xticks(range(len(cases)), cases, rotation=20, ha="right")
        axis.set_title(title)
        axis.legend()
    p99.set_yscale("log")
    levels = [r["connections"] for r in results["crowd"]]
    crowd.plot(levels, [r["requests_per_s"] for r in results["crowd"]], "o-", label="req/s")
    crowd.set_xscale("log")
    crowd.set_ylim(bottom=0)
    crowd.set_xlabel("connections")
    crowd.set_title("crowd into Postfix: req/s and p99 (ms)")
    latency = crowd.twinx()
    latency.plot(levels, [r["p99_ms"] for r in results["crowd"]], "s--", color="C3", label="p99 ms")
    latency.set_yscale("log")
    crowd.legend(loc="upper left")
    latency.legend(loc="lower right")
    figure.suptitle(f"dinky-falcon, {results['date']}")
    figure.tight_layout()
    figure.savefig(png, dpi=100)
