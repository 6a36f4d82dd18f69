"""Idempotency across a restart of a real ``python -m dinky_falcon serve`` (SQLite store)."""

import os

import pytest

from dinky_falcon.idempotency import SqliteStore, fingerprint
from support.samples import SEED_REQUEST
from support.service_process import ServiceProcess


def start(tmp_path, environ) -> ServiceProcess:
    return ServiceProcess(environ, tmp_path, "--threads", "2").start()


def post(service: ServiceProcess, body: dict, key: str):
    return service.request("POST", "/send", body, {"Idempotency-Key": key}, timeout=10)


def stop(service: ServiceProcess) -> None:
    assert service.stop() == 0


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
    service = start(tmp_path, environ)
    try:
        status, headers, first = post(service, SEED_REQUEST, "signup-42")
        assert status == 200
        assert "Idempotent-Replayed" not in headers
    finally:
        stop(service)

    service = start(tmp_path, environ)
    try:
        status, headers, again = post(service, SEED_REQUEST, "signup-42")
        assert (status, headers["Idempotent-Replayed"], again) == (200, "true", first)
        status, _, conflict = post(service, dict(SEED_REQUEST, body="changed"), "signup-42")
        assert (status, conflict["error"]) == (422, "Idempotency-Key reused")

        # Another process holding a key (here: this test) makes the service answer 409.
        store = SqliteStore(tmp_path / "data" / "idempotency.sqlite3", ttl=60)
        try:
            store.claim("send::held-elsewhere", fingerprint(SEED_REQUEST))
            status, _, busy = post(service, SEED_REQUEST, "held-elsewhere")
            assert (status, busy["error"]) == (409, "Request in progress")
        finally:
            store.close()
    finally:
        stop(service)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
