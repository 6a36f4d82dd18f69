"""End to end: ``dinky-mail serve`` in a subprocess, many clients at once, a real SMTP peer."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes

import pytest

from support.samples import SEED_REQUEST

THREADS = 8


@pytest.fixture
def served_by_waitress(smtp_server, tmp_path):
    """The API on a free loopback port, delivering through ``postfix`` to the plain peer."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "ENVIRONMENT": "production",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "postfix",
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_TIMEOUT": "2",
        "LOG_LEVEL": "info",  # the port is read from the "listening on" line
        "RATE_LIMIT": "none",  # production limits 10 a minute per client; this is a load test
    }
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dinky_falcon",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--threads",
                str(THREADS),
            ],
            env=environ,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_for_port(server, log_path)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0, log_path.read_text()


def _wait_for_port(server: subprocess.Popen, log_path) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text())
        if found:
            return int(found.group(1))
        assert server.poll() is None, log_path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"the server did not start: {log_path.read_text()}")


def _post(port: int, n: int) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps(dict(SEED_REQUEST, subject=f"Request {n}"))
        connection.request("POST", "/send", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_hundred_concurrent_requests_are_each_delivered_exactly_once(
    served_by_waitress, smtp_server
):
    with ThreadPoolExecutor(max_workers=25) as clients:
        answers = list(clients.map(lambda n: _post(served_by_waitress, n), range(100)))
    assert [status for status, _ in answers] == [200] * 100
    answered_ids = sorted(body["id"] for _, body in answers)
    delivered = [message_from_bytes(m.data) for m in smtp_server.messages]
    assert sorted(m["Message-ID"] for m in delivered) == answered_ids
    assert len(set(answered_ids)) == 100
    assert sorted(m["Subject"] for m in delivered) == sorted(f"Request {n}" for n in range(100))
    # The pool is shared by the worker threads: never more connections than threads.
    assert 1 <= smtp_server.connections <= THREADS
