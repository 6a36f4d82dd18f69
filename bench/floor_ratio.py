"""The service's own cost against bare Falcon+waitress, in the server, in turns: ``python
bench/floor_ratio.py [--rounds N] [--write]``.

bench/run.py measures each case once, one after the other: on a shared machine a burst of
someone else's work lands on one case and not the other, and the ratio moves by 2×. Here
three servers run side by side: bench/bare_app.py on stock waitress (the reference the
issue names), the same app on the service's own waitress server (its event loop does not
spin while workers send: the difference is the server's, not the service's work), and the
service with the discard transport; each round loads one after the other, at 8 and at 32
connections. Other
work only ever adds CPU time, so each case's least CPU per request over the rounds is the
closest to its own cost; the median is shown beside it. About 40 s per round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from report import write_marked
from run import BENCH, CONNECTIONS, THREADS, Server, service, wrk

SECONDS = 5


def cpu_ms_per_request(server: Server, connections: int) -> float:
    wrk(server.port, connections, 1)  # warm-up at this level
    before = server.cpu_seconds()
    figures = wrk(server.port, connections, SECONDS)
    return (server.cpu_seconds() - before) * 1000 / max(1, figures["requests"])


def measure(rounds: int, workdir: Path) -> dict[tuple[str, int], list[float]]:
    for name in ("bare", "bare-server", "floor"):
        (workdir / name).mkdir()
    bare = [sys.executable, str(BENCH / "bare_app.py"), "{port}", str(THREADS)]
    servers = {
        "bare": Server(bare, {}, workdir / "bare"),
        "bare-server": Server(
            [*bare, "service-server"], {"ENVIRONMENT": "development"}, workdir / "bare-server"
        ),
        "floor": service(
            workdir / "floor", MAIL_TRANSPORT="discard", PLUGINS_DIR=str(BENCH / "plugins")
        ),
    }
    samples: dict[tuple[str, int], list[float]] = {}
    try:
        for server in servers.values():
            server.start()
        for turn in range(rounds):
            for connections in CONNECTIONS:
                for name, server in servers.items():
                    ms = cpu_ms_per_request(server, connections)
                    samples.setdefault((name, connections), []).append(ms)
                    print(f"round {turn + 1}: {name} {connections} conns {ms:.3f} ms", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return samples


def table(samples: dict[tuple[str, int], list[float]]) -> str:
    lines = [
        "| conns | CPU ms/request, least / median: bare (stock waitress) | bare (service's "
        "server) | floor | floor ÷ bare stock | floor ÷ bare on the same server |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for connections in CONNECTIONS:
        cells = []
        for name in ("bare", "bare-server", "floor"):
            values = samples[name, connections]
            cells.append(f"{min(values):.3f} / {statistics.median(values):.3f}")
        floor = samples["floor", connections]
        ratios = []
        for name in ("bare", "bare-server"):
            values = samples[name, connections]
            least = min(floor) / min(values)
            middle = statistics.median(floor) / statistics.median(values)
            ratios.append(f"**{least:.2f}×** / {middle:.2f}×")
        lines.append(f"| {connections} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="turns of both cases (default 5)")
    parser.add_argument("--write", action="store_true", help="into bench/RESULTS.md")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        text = table(measure(options.rounds, Path(workdir)))
    print(text)
    if options.write:
        command = f"python bench/floor_ratio.py --rounds {options.rounds} --write"
        write_marked(BENCH / "RESULTS.md", "floor", command, text)


if __name__ == "__main__":
    main()
