"""What a client writes cannot forge a log line: each event starts exactly one line."""

import logging
import re
import socket
import time

from hypothesis import given
from hypothesis import strategies as st

from dinky_falcon.logs import OneLinePerEvent
from support.service_process import ServiceProcess

FORGED = "2026-01-01 00:00:00,000 INFO dinky_falcon.access: POST /send 200"
FORGING_PATH = (
    "/nothing%0a2026-01-01%2000:00:00,000%20INFO%20dinky_falcon.access:%20POST%20/send%20200"
)
# A log line as configure_logging writes it: the time, the level, the logger.
EVENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


def raw_get(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return conn.makefile("rb").readline()


def test_a_path_with_line_breaks_is_logged_escaped_on_one_line(tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "memory",
        "DATA_DIR": str(tmp_path / "data"),
    }
    with ServiceProcess(env, cwd=tmp_path) as service:
        assert b" 404 " in raw_get(service.port, FORGING_PATH)
        # CR, an escape sequence that would clear the operator's terminal, U+2028.
        assert b" 404 " in raw_get(service.port, "/a%0d%1b[2J%e2%80%a8b")
        deadline = time.monotonic() + 10
        while not any("GET /a" in line for line in service.log):
            assert time.monotonic() < deadline, service.log
            time.sleep(0.05)
    assert not [line for line in service.log if line.startswith("2026-01-01")]
    events = [line for line in service.log if EVENT.match(line)]
    assert len(events) == len(service.log), service.log
    access = [line for line in events if " dinky_falcon.access: GET /nothing" in line]
    assert access[0].endswith("GET /nothing\\n" + FORGED + " 404 " + access[0].split(" 404 ")[1])
    assert [line for line in events if "GET /a\\r\\x1b[2J\\u2028b 404 " in line]


def event(message: str, args=(), error: BaseException | None = None) -> str:
    exc_info = (type(error), error, error.__traceback__) if error else None
    record = logging.LogRecord(
        "dinky_falcon.test", logging.ERROR, __file__, 1, message, args, exc_info
    )
    return OneLinePerEvent("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)


@given(st.text(), st.text())
def test_every_event_is_one_line_at_the_margin_whatever_the_client_wrote(client, reason):
    try:
        raise ValueError(reason)
    except ValueError as error:
        text = event("refused %s", (client,), error)
    first, *rest = text.split("\n")
    assert first.isprintable() and EVENT.match(first)
    assert client.isprintable() <= (client in first)
    # str.splitlines also breaks at CR, VT, FF, U+2028...: no reader sees a line of the client's.
    assert all(line.startswith("  ") and line.isprintable() for line in text.splitlines()[1:])
    assert any(line.startswith("  ValueError") for line in rest)
