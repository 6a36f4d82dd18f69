"""Where one POST /send spends its CPU, in process: ``python bench/cpu_profile.py [TRANSPORT]``.

Sends bench/run.py's message N times to ``create_app``'s WSGI callable, called directly
with the environ waitress would build: no sockets, no waitress, and no test client (falcon's
TestClient checks every environ and answer with wsgiref's validator, which cost as much as
bare Falcon itself and was counted on both sides of the ratio). The service logs as
``dinky-mail serve`` does (configure_logging, lines written by a thread of their own), to
/dev/null. Prints user and system milliseconds per request, then the functions that took
the most time under cProfile. TRANSPORT is memory (default: the app alone), discard (the
floor), bare (bare_app.py) or file; postfix and gmail need their server (SMTP_HOST/SMTP_PORT
etc. in the environment).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import os
import pstats
import sys
import tempfile
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

from run import BODY

from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings
from dinky_falcon.logs import configure_logging, written_by_one_thread


@contextlib.contextmanager
def sender(transport: str, scratch: str) -> Iterator[Callable[[], None]]:
    """One in-process POST /send of run.py's message through ``create_app``, as a function,
    while the service's logging is set up as when serving.

    TRANSPORT ``bare`` is bench/bare_app.py's endpoint (the framework alone, which logs
    nothing); ``discard`` is bench/plugins/discard.py's transport (the service's floor)."""
    body = json.dumps(BODY).encode()
    if transport == "bare":
        from bare_app import app

        yield wsgi_caller(app, body)
        return
    settings = Settings.from_env(
        {
            **os.environ,
            # development: production refuses the memory transport, which delivers nothing.
            "ENVIRONMENT": "development",
            "RATE_LIMIT": "none",
            "MAIL_DOMAIN": "example.org",
            "ALLOWED_RECIPIENTS": "@example.net",
            "MAIL_TRANSPORT": transport,
            "PLUGINS_DIR": str(Path(__file__).resolve().parent / "plugins"),
            "OUTBOX_DIR": f"{scratch}/outbox",
            "DATA_DIR": f"{scratch}/data",
        },
        env_file=None,
    )
    configure_logging(settings)
    for handler in logging.getLogger().handlers:
        handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - open while the process runs
    with written_by_one_thread():
        yield wsgi_caller(create_app(settings), body)


def wsgi_caller(app, body: bytes) -> Callable[[], None]:
    """A POST /send of ``body`` to the WSGI callable ``app``; asserts its 200."""
    environ = wsgi_environ(body)
    answer = []

    def start_response(status, headers, exc_info=None):
        answer[:] = [status]

    def send() -> None:
        request = environ.copy()  # Falcon keeps what it parsed in the environ
        request["wsgi.input"] = BytesIO(body)
        chunks = app(request, start_response)
        content = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        assert answer[0].startswith("200"), content

    return send


def wsgi_environ(body: bytes) -> dict:
    """A POST /send of ``body`` as waitress hands it to the app (its keys, its values)."""
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/send",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_HOST": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "20001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "waitress",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:20001",
        "HTTP_USER_AGENT": "wrk",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("transport", nargs="?", default="memory")
    parser.add_argument("-n", type=int, default=2000, help="requests to time (default 2000)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, sender(options.transport, scratch) as send:
        for _ in range(100):
            send()  # warm-up
        before = os.times()
        for _ in range(options.n):
            send()
        after = os.times()
        user, system = (
            (b - a) * 1000 / options.n for a, b in zip(before[:2], after[:2], strict=True)
        )
        print(f"{options.transport}: {user:.3f} ms user + {system:.3f} ms system per request")
        profile = cProfile.Profile()
        profile.runcall(lambda: [send() for _ in range(options.n // 4)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
