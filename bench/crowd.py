"""A crowd: POST /send through one server at 1 to 1,000 connections, /health polled throughout.

bench/run.py calls :func:`crowd` with the service sending into Postfix. Each level is one wrk
run (after a warm-up at the same level) while a separate client asks GET /health every
100 ms on a connection of its own and records its slowest answer and any failure: a crowd
on /send must not stop the service from saying it is alive.
"""

from __future__ import annotations

import http.client
import re
import sys
import threading
import time
from pathlib import Path

LEVELS = (1, 8, 32, 128, 512, 1000)
HEALTH_EVERY = 0.1  # seconds between two /health requests
HEALTH_TIMEOUT = 10  # seconds; a /health slower than this counts as a failure


class HealthWatch:
    """GET /health every HEALTH_EVERY seconds from a thread, until stopped; the worst latency."""

    def __init__(self, port: int):
        self.port = port
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HEALTH_TIMEOUT)
            try:
                connection.request("GET", "/health")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    self.latencies.append(time.perf_counter() - started)
                else:
                    self.failures += 1
            except OSError:
                self.failures += 1
            finally:
                connection.close()
            self._stop.wait(HEALTH_EVERY)

    def figures(self) -> dict:
        return {
            "health_polls": len(self.latencies) + self.failures,
            "health_failures": self.failures,
            "health_worst_ms": round(max(self.latencies, default=0) * 1000, 1),
        }


def drained(port: int, within: float = 60) -> None:
    """Wait until /health answers within 100 ms: waitress still runs the requests of a wrk
    run that has ended (a thousand of them after a warm-up at 1,000 connections), and the
    next run would otherwise begin behind them."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=within)
        try:
            connection.request("GET", "/health")
            connection.getresponse().read()
        finally:
            connection.close()
        if time.perf_counter() - started < 0.1:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the service was still busy {within} s after the load ended")


def connection_limit(server_log: Path) -> int:
    """The limit ``dinky-mail serve`` says it listens with ("up to N connections"); its log is
    written by a thread every 50 ms, so the line may follow the first answer by that much."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = re.findall(r"up to (\d+) connections", server_log.read_text(errors="replace"))
        if found:
            return int(found[-1])
        time.sleep(0.05)
    raise RuntimeError(f"the service did not log its connection limit in {server_log}")


def crowd(server, case: str, wrk, warmup: int, seconds: int) -> list[dict]:
    """Start ``server``, load it at each of LEVELS with ``wrk(port, connections, seconds)``."""
    rows = []
    try:
        server.start()
        limit = connection_limit(server.workdir / "server.log")
        if limit < max(LEVELS) + 1:  # + the /health client
            raise RuntimeError(f"the service allows {limit} connections, fewer than the crowd")
        for connections in LEVELS:
            wrk(server.port, connections, warmup)
            drained(server.port)
            with HealthWatch(server.port) as health:
                figures = wrk(server.port, connections, seconds)
            ok = figures["requests"] - figures["status"]
            rows.append(
                {
                    "case": case,
                    "connections": connections,
                    "requests_per_s": round(ok / figures["seconds"], 1),
                    "p50_ms": round(figures["p50_ms"], 1),
                    "p99_ms": round(figures["p99_ms"], 1),
                    "errors": sum(figures[k] for k in ("connect", "read", "write", "status")),
                    "timeouts": figures["timeout"],
                    "connection_limit": limit,
                    **health.figures(),
                }
            )
            print(f"  crowd {connections}: {rows[-1]}", file=sys.stderr)
    finally:
        server.stop()
    return rows


def main() -> None:
    """``python bench/crowd.py [--quick]``: the crowd alone, into a Postfix of its own."""
    import argparse
    import json
    import shutil
    import tempfile

    import run

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s per level instead of 8")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="dinky-crowd-"))
    scratch.chmod(0o755)  # postfix's own user must reach its queue below
    postfix = None
    try:
        postfix = run.start_postfix(scratch)
        (scratch / "service").mkdir()
        server = run.service(
            scratch / "service",
            MAIL_TRANSPORT="postfix",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(postfix.port),
        )
        rows = crowd(
            server, "postfix", run.wrk, 1 if options.quick else 2, 2 if options.quick else 8
        )
        print(json.dumps(rows, indent=2))
    finally:
        if postfix is not None:
            postfix.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
