"""A client that trickles or stalls its body holds no worker, and is cut off after CLIENT_TIMEOUT."""

import socket
import time

import pytest

from dinky_falcon.errors import ConfigError
from support.samples import SEED_REQUEST


def start_slow_upload(port: int) -> socket.socket:
    """Headers promising 200 bytes, then only 20 of them."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(
        b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n" + b'{"to": "a@example.or'
    )
    return conn


def test_a_stalled_upload_holds_no_worker_and_is_closed_after_client_timeout(live_server):
    server = live_server(threads=1, CLIENT_TIMEOUT="1")
    started = time.monotonic()
    slow = [start_slow_upload(server.port) for _ in range(3)]
    # The only worker thread is free: waitress waits for whole requests before using one.
    assert server.healthy()
    assert server.send(SEED_REQUEST).status == 200
    for conn in slow:
        with conn:
            assert conn.recv(1024) == b""  # closed by the server, without an answer
    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 5
    assert server.healthy()


def test_a_trickling_upload_is_answered_once_complete(live_server):
    server = live_server(threads=1, CLIENT_TIMEOUT="2")
    body = b'{"to": "a@example.org", "subject": "s", "body": "slow"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        for start in range(0, len(body), 8):
            conn.sendall(body[start : start + 8])
            assert server.healthy()  # meanwhile others are served by the one worker
            time.sleep(0.05)
        assert conn.makefile("rb").readline().split()[1] == b"200"
    assert server.sent[0][1].recipients == ("a@example.org",)


def test_client_timeout_must_be_a_whole_number_of_seconds(make_settings):
    assert make_settings().client_timeout == 30
    with pytest.raises(
        ConfigError, match="CLIENT_TIMEOUT='0' is not a whole number from 1 to 3600"
    ):
        make_settings(CLIENT_TIMEOUT="0")
