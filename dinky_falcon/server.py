"""``dinky-mail serve``: the app under waitress, stopped cleanly by SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal

import waitress

from .app import create_app
from .idempotency import open_store
from .logs import written_by_one_thread
from .mailer import Mailer
from .memory import return_large_blocks
from .settings import Settings

log = logging.getLogger(__name__)


def _stop(signum, frame):
    raise SystemExit(0)


def create_server(settings: Settings, app, host: str, port: int, threads: int):
    """The waitress server for ``app``, not yet running."""
    return waitress.create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        # Bodies over MAX_BODY_SIZE get the app's JSON 413; waitress stops far larger ones
        # before buffering them.
        max_request_body_size=settings.max_body_size * 2,
        # waitress reads a whole request before a worker thread sees it, so a slow client
        # holds a connection, never a worker; one silent for CLIENT_TIMEOUT is closed.
        channel_timeout=settings.client_timeout,
        cleanup_interval=max(1, min(30, settings.client_timeout // 2)),
        # X-Forwarded-For reaches the app, which believes it only from TRUSTED_PROXIES (CIDRs,
        # which waitress's own trusted_proxy cannot express); waitress would drop it.
        clear_untrusted_proxy_headers=False,
        ident="dinky-falcon",
    )


def serve(settings: Settings, host: str, port: int, threads: int) -> None:
    with written_by_one_thread():
        _serve(settings, host, port, threads)


def _serve(settings: Settings, host: str, port: int, threads: int) -> None:
    return_large_blocks()
    mailer = Mailer.from_settings(settings)
    idempotency = None
    try:
        idempotency = open_store(settings)
        app = create_app(settings, mailer=mailer, idempotency=idempotency)
        server = create_server(settings, app, host, port, threads)
        signal.signal(signal.SIGTERM, _stop)
        log.info(
            "listening on http://%s:%s with %d threads, transport %s",
            host, server.effective_port, threads, mailer.transport_name,
        )
        server.run()  # returns after SystemExit or KeyboardInterrupt
        log.info("stopped")
    finally:
        mailer.close()
        if idempotency is not None:
            idempotency.close()
