"""Idempotency across a restart of a real ``python -m dinky_falcon serve`` (SQLite store)."""

import http.client
import json
import os
import re
import subprocess
import sys
import threading

import pytest

from dinky_falcon.idempotency import SqliteStore, fingerprint
from support.samples import SEED_REQUEST


class Service:
    """``python -m dinky_falcon serve --port 0``; the port is read from its start-up line."""

    def __init__(self, cwd, environ):
        self.process = subprocess.Popen(
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
                "2",
            ],
            cwd=cwd,
            env=environ,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        port = None
        for line in self.process.stderr:
            self.log.append(line)
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        if port is None:
            self.process.wait(timeout=10)
            raise RuntimeError("the service did not start:\n" + "".join(self.log))
        self.port = port
        # Keep reading the log so the pipe never fills up.
        self.reader = threading.Thread(
            target=lambda: self.log.extend(self.process.stderr), daemon=True
        )
        self.reader.start()

    def post(self, body: dict, key: str):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json", "Idempotency-Key": key}
            connection.request("POST", "/send", json.dumps(body), headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        assert self.process.wait(timeout=10) == 0
        self.reader.join(timeout=10)


@pytest.fixture
def environ(tmp_path):
    variables = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    variables.update(
        ENVIRONMENT="development",
        MAIL_DOMAIN="example.org",
        MAIL_TRANSPORT="file",
        OUTBOX_DIR=str(tmp_path / "outbox"),
        DATA_DIR=str(tmp_path / "data"),
    )
    return variables


def test_a_replay_after_a_restart_sends_nothing_and_answers_as_before(tmp_path, environ):
    service = Service(tmp_path, environ)
    try:
        status, headers, first = service.post(SEED_REQUEST, "signup-42")
        assert status == 200
        assert "Idempotent-Replayed" not in headers
    finally:
        service.stop()

    service = Service(tmp_path, environ)
    try:
        status, headers, again = service.post(SEED_REQUEST, "signup-42")
        assert (status, headers["Idempotent-Replayed"], again) == (200, "true", first)
        status, _, conflict = service.post(dict(SEED_REQUEST, body="changed"), "signup-42")
        assert (status, conflict["error"]) == (422, "Idempotency-Key reused")

        # Another process holding a key (here: this test) makes the service answer 409.
        store = SqliteStore(tmp_path / "data" / "idempotency.sqlite3", ttl=60)
        try:
            store.claim("send::held-elsewhere", fingerprint(SEED_REQUEST))
            status, _, busy = service.post(SEED_REQUEST, "held-elsewhere")
            assert (status, busy["error"]) == (409, "Request in progress")
        finally:
            store.close()
    finally:
        service.stop()
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
