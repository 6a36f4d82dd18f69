"""Where one POST /send spends its CPU, in process: ``python bench/cpu_profile.py [TRANSPORT]``.

Sends bench/run.py's message N times through ``create_app`` with falcon's TestClient (no
sockets, no waitress), prints user and system milliseconds per request, then the functions
that took the most time under cProfile. TRANSPORT is memory (default: the app alone), discard (the floor), bare (bare_app.py) or file;
postfix and gmail need their server (SMTP_HOST/SMTP_PORT etc. in the environment).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import tempfile
from pathlib import Path

from falcon import testing
from run import BODY

from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings


def sender(transport: str, scratch: str):
    """One in-process POST /send of run.py's message through ``create_app``, as a function.

    TRANSPORT ``bare`` is bench/bare_app.py's endpoint (the framework alone); ``discard`` is
    bench/plugins/discard.py's transport (the service's floor)."""
    if transport == "bare":
        from bare_app import app
    else:
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
        app = create_app(settings)
    client = testing.TestClient(app)
    body = json.dumps(BODY)

    def send() -> None:
        result = client.simulate_post("/send", body=body, content_type="application/json")
        assert result.status_code == 200, result.json

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("transport", nargs="?", default="memory")
    parser.add_argument("-n", type=int, default=2000, help="requests to time (default 2000)")
    options = parser.parse_args()
    logging.basicConfig(level="INFO", stream=open(os.devnull, "w"))  # the access log, discarded
    with tempfile.TemporaryDirectory() as scratch:
        send = sender(options.transport, scratch)
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
