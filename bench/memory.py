"""Memory per request in flight: ``python bench/memory.py [--write]`` (about a minute).

For each attachment size, a fresh ``python -m dinky_falcon serve`` (file sink, 8 threads) on
127.0.0.1 is sent one request, then 8 at once, then 16 at once (8 handled while 8 wait in
waitress, which buffers a body over 512 KiB in a temporary file), while its RSS is sampled
every 5 ms from /proc. Printed per case: the request body, the peak RSS, the peak added over
the idle size per request in flight and that as a multiple of the body, and the RSS 2 s after
the last burst. ``--write`` puts the table into bench/RESULTS.md between its memory markers.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from report import write_marked  # noqa: E402 - bench/ is on sys.path as a script
from run import Server  # noqa: E402 - bench/ is on sys.path when this runs as a script

SIZES = {"1 KiB": 1 << 10, "100 KiB": 100 << 10, "5 MiB": 5 << 20}
IN_FLIGHT = (1, 8, 16)
THREADS = 8


def request_body(size: int) -> bytes:
    content = base64.b64encode(os.urandom(size)).decode()
    return json.dumps(
        {
            "to": "ada@example.net",
            "subject": "memory",
            "body": "see the attachment",
            "attachments": [{"filename": "data.bin", "content": content}],
        }
    ).encode()


def post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/send", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def peak_rss_during(server: Server, work) -> float:
    """The highest RSS (MB) seen while ``work()`` runs."""
    peak, done = [server.memory_mb("VmRSS")], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], server.memory_mb("VmRSS"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return peak[0]


def concurrently(port: int, body: bytes, count: int) -> None:
    statuses = []
    threads = [
        threading.Thread(target=lambda: statuses.append(post(port, body))) for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if statuses != [200] * count:
        raise RuntimeError(f"answers: {statuses}")


def measure(label: str, size: int, workdir: Path) -> dict:
    body = request_body(size)
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "file",
        "OUTBOX_DIR": str(workdir / "outbox"),
        "DATA_DIR": str(workdir / "data"),
        "MAX_BODY_SIZE": str(16 << 20),
        "MAX_ATTACHMENT_BYTES": str(12 << 20),
        "LOG_LEVEL": "warning",
    }
    server = Server(
        [
            sys.executable,
            "-m",
            "dinky_falcon",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--threads",
            str(THREADS),
        ],
        env,
        workdir,
    )
    server.start()
    try:
        post(server.port, request_body(1024))  # warm-up: imports, first message
        time.sleep(0.5)
        idle = server.memory_mb("VmRSS")
        row = {"attachment": label, "body KiB": round(len(body) / 1024), "idle MB": round(idle, 1)}
        for count in IN_FLIGHT:
            peak = peak_rss_during(
                server, lambda count=count: concurrently(server.port, body, count)
            )
            row[f"peak MB, {count} in flight"] = round(peak, 1)
            row[f"+MB/request, {count}"] = round((peak - idle) / count, 2)
            row[f"x body, {count}"] = round((peak - idle) * (1 << 20) / count / len(body), 1)
        time.sleep(2)
        after = server.memory_mb("VmRSS")
        row["MB 2 s after"] = round(after, 1)
        row["held over idle MB"] = round(after - idle, 1)
        return row
    finally:
        server.stop()


def table(rows: list[dict]) -> str:
    """One line per size: peak RSS, what each request in flight added as a multiple of the
    body, and what stayed after the burst."""
    lines = [
        "| attachment (body) | idle MB | peak RSS MB, 1 / 8 / 16 in flight "
        "| added per request ÷ body, 1 / 8 / 16 | RSS 2 s after (over idle) MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        peaks = " / ".join(str(row[f"peak MB, {n} in flight"]) for n in IN_FLIGHT)
        ratios = " / ".join(f"{row[f'x body, {n}']}×" for n in IN_FLIGHT)
        lines.append(
            f"| {row['attachment']} ({row['body KiB']} KiB) | {row['idle MB']} | {peaks} "
            f"| {ratios} | {row['MB 2 s after']} ({row['held over idle MB']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="into bench/RESULTS.md")
    options = parser.parse_args()
    rows = []
    for label, size in SIZES.items():
        with tempfile.TemporaryDirectory() as workdir:
            rows.append(measure(label, size, Path(workdir)))
            print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if options.write:
        markdown = Path(__file__).resolve().parent / "RESULTS.md"
        write_marked(markdown, "memory", "python bench/memory.py --write", table(rows))


if __name__ == "__main__":
    main()
