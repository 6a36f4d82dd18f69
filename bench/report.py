"""bench/run.py's figures -> the issue's targets, bench/RESULTS.md's table and a PNG plot."""

from __future__ import annotations

from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _row(results: dict, case: str, connections: int) -> dict:
    return next(r for r in results["rows"] if r["case"] == case and r["connections"] == connections)


def evaluate(results: dict) -> list[dict]:
    """Each target of issue #9 with the figure measured in this run and whether it is met."""
    targets = []

    def target(text: str, figure: float, limit: float, below: bool = True) -> None:
        met = figure <= limit if below else figure >= limit
        targets.append({"target": text, "figure": round(figure, 3), "met": met})

    for connections in (8, 32):
        bare = _row(results, "bare falcon+waitress", connections)
        file = _row(results, "file sink", connections)
        postfix = _row(results, "postfix", connections)
        target(
            f"file sink CPU/message ≤ 0.35 ms ({connections} conns)",
            file["cpu_ms_per_message"],
            0.35,
        )
        target(
            f"SMTP (postfix) CPU/message ≤ 0.5 ms ({connections} conns)",
            postfix["cpu_ms_per_message"],
            0.5,
        )
        target(
            f"file sink ≥ 0.4× bare ceiling ({connections} conns)",
            file["requests_per_s"] / bare["requests_per_s"],
            0.4,
            below=False,
        )
        target(
            f"postfix ≥ 0.8× smtp-source -s 8 ({connections} conns)",
            postfix["requests_per_s"] / results["smtp_source_per_s"],
            0.8,
            below=False,
        )
    target("postfix p99 < 100 ms at 32 conns", _row(results, "postfix", 32)["p99_ms"], 100)
    service_rows = [r for r in results["rows"] if r["case"] != "bare falcon+waitress"]
    target(
        "idle RSS < 40 MB (largest of the service runs)",
        max(r["idle_rss_mb"] for r in service_rows),
        40,
    )
    target("RSS under load < 60 MB (largest peak)", max(r["peak_rss_mb"] for r in service_rows), 60)
    target(
        "serve → first /health 200 < 1 s (slowest)", max(r["startup_s"] for r in service_rows), 1
    )
    return targets


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
    before, after = results["smtp_source_runs_per_s"]
    lines.append(
        f"| smtp-source -s 8 into the same Postfix (mean of {before:.0f} before and {after:.0f} "
        f"after the postfix case) | 8 sessions | {results['smtp_source_per_s']:.0f} | | | | | | | |"
    )
    return "\n".join(lines)


def generated_section(results: dict) -> str:
    targets = "\n".join(
        f"- {'met' if t['met'] else '**not met**'}: {t['target']} — measured {t['figure']}"
        for t in results["targets"]
    )
    return (
        f"{BEGIN}\n"
        f"Machine: {results['machine']}  \n"
        f"Date: {results['date']}  \n"
        f"Command: `{results['command']}` ({results['seconds_per_run']} s per wrk run after a "
        "warm-up, wrk -t 2)\n\n"
        f"{table(results)}\n\n"
        "Targets of issue #9, all from this run:\n\n"
        f"{targets}\n\n"
        f"{floor(results)}\n\n"
        "![requests/s and p99 per case](results.png)\n"
        f"{END}"
    )


def floor(results: dict) -> str:
    """What the service costs with no transport, beside the file sink's targets."""
    parts = []
    for connections in (8, 32):
        bare = _row(results, "bare falcon+waitress", connections)
        none = _row(results, "no transport", connections)
        parts.append(
            f"{none['cpu_ms_per_message']:.3f} ms/message and "
            f"{none['requests_per_s'] / bare['requests_per_s']:.2f}× bare at {connections} conns"
        )
    return (
        "For scale, the service with no transport at all (bench/plugins/discard.py) costs "
        + "; ".join(parts)
        + ": no transport's row can be below this floor."
    )


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
    figure, (rate, p99) = plt.subplots(1, 2, figsize=(11, 4))
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
    figure.suptitle(f"dinky-falcon, {results['date']}")
    figure.tight_layout()
    figure.savefig(png, dpi=100)
