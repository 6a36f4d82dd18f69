"""``dinky-mail serve``: the app under waitress, stopped cleanly by SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import resource
import signal
import time

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from .app import create_app
from .config.settings import Settings
from .errors import ConfigError
from .idempotency import open_store
from .logs import written_by_one_thread
from .mailer import Mailer
from .malloc import return_large_blocks
from .web.outbox_page import outbox_enabled

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 10_000  # open at once; each costs a file descriptor and a little memory
RESERVED_FILES = 200  # descriptors kept for the transports, the stores, logs, plugins


def _stop(signum, frame):
    raise SystemExit(0)


def create_server(settings: Settings, app, host: str, port: int, threads: int):
    """The waitress server for ``app``, not yet running (as ``waitress.create_server`` makes
    it, with the _Server below)."""
    adj = Adjustments(
        host=host,
        port=port,
        threads=threads,
        # Bodies over MAX_BODY_SIZE get the app's JSON 413; waitress stops far larger ones
        # before buffering them.
        max_request_body_size=settings.max_body_size * 2,
        # waitress reads a whole request before a worker thread sees it, so a slow client
        # holds a connection, never a worker; one silent for CLIENT_TIMEOUT is closed, one
        # still receiving a request RECEIVE_TIMEOUT after its first byte too (_Channel).
        channel_timeout=settings.client_timeout,
        cleanup_interval=max(1, min(30, settings.client_timeout // 2)),
        # waitress's default (100) let 100 idle sockets stop it from answering anyone, /health
        # included. poll(), since select() cannot watch descriptors past 1023.
        connection_limit=connection_limit(),
        asyncore_use_poll=True,
        # X-Forwarded-For reaches the app, which believes it only from TRUSTED_PROXIES (CIDRs,
        # which waitress's own trusted_proxy cannot express); waitress would drop it.
        clear_untrusted_proxy_headers=False,
        ident="dinky-falcon",
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    listeners: dict = {}
    servers = [
        _Server(
            app,
            listeners,
            dispatcher=dispatcher,
            adj=adj,
            sockinfo=sockinfo,
            receive_timeout=settings.receive_timeout,
        )
        for sockinfo in adj.listen
    ]
    if len(servers) == 1:
        return servers[0]
    listening = [(server.effective_host, server.effective_port) for server in servers]
    return MultiSocketServer(listeners, adj, listening, dispatcher, servers[-1].log_info)


class _Server(TcpWSGIServer):
    def __init__(self, *args, receive_timeout: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_class = type("Channel", (_Channel,), {"receive_timeout": receive_timeout})

    def handle_accept(self) -> None:
        # waitress accepts one connection per turn of its loop, and a turn costs time in
        # proportion to the connections open: a burst of 1,000 took seconds to take in, and
        # /health waited behind it. Take what is waiting, a hundred at a time.
        for _ in range(100):
            before = len(self._map)
            super().handle_accept()
            if len(self._map) == before or len(self._map) >= self.adj.connection_limit:
                return  # none was waiting (or it failed), or the limit is reached


class _Channel(HTTPChannel):
    """A connection whose request must arrive whole within ``receive_timeout`` seconds of its
    first byte: waitress's channel_timeout counts only the silence between bytes, so a
    client sending a byte a second would otherwise hold its connection for ever."""

    receive_timeout: int
    receiving_since: float | None = None  # when the request being received began

    def received(self, data: bytes) -> bool:
        result = super().received(data)
        if self.request is None:  # every request in ``data`` was complete
            self.receiving_since = None
        elif self.receiving_since is None:
            self.receiving_since = time.monotonic()
        return result

    def writable(self) -> bool:
        # A worker sends its own output while it writes it, holding the outbuf's lock; the
        # loop's handle_write only tries that lock. Saying "writable" while the worker holds
        # it made poll() return at once, turn after turn, and the loop spun, holding the GIL
        # the worker needed to go on (measured: 5 s of CPU in 6, 49 requests a second with 2
        # threads and 32 connections). Then the loop waits instead: what the worker leaves
        # unsent is sent when it lets go (its task ends with a pull of the trigger).
        if self.requests and self.total_outbufs_len:
            if not self.outbuf_lock.acquire(blocking=False):
                return bool(self.will_close or self.close_when_flushed)
            self.outbuf_lock.release()
        return super().writable()

    def readable(self) -> bool:
        # Asked on every turn of the event loop (at least once a second).
        if (
            self.receiving_since is not None
            and not self.requests
            and time.monotonic() - self.receiving_since > self.receive_timeout
        ):
            self.will_close = True  # closed by handle_write, as waitress's own time-outs are
        return super().readable()


def connection_limit() -> int:
    """MAX_CONNECTIONS, or fewer when the process may not open that many files: the soft
    RLIMIT_NOFILE (often 1024) is raised toward the hard one first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(100, min(MAX_CONNECTIONS, soft - RESERVED_FILES))


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
        try:
            server = create_server(settings, app, host, port, threads)
        except (OSError, ValueError) as exc:
            raise _cannot_listen(exc, host, port) from None
        signal.signal(signal.SIGTERM, _stop)
        log.info(
            "listening on http://%s:%s with %d threads, up to %d connections, transport %s",
            host,
            server.effective_port,
            threads,
            server.adj.connection_limit,
            mailer.transport_name,
        )
        if outbox_enabled(settings):
            shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            log.info(
                "outbox: http://%s:%s/outbox shows the mail as it arrives",
                shown,
                server.effective_port,
            )
        server.run()  # returns after SystemExit or KeyboardInterrupt (waits 5 s for workers)
        _finish_requests_in_flight(server.task_dispatcher, settings.send_deadline)
        log.info("stopped")
    finally:
        mailer.close()
        if idempotency is not None:
            idempotency.close()


def _finish_requests_in_flight(dispatcher: ThreadedTaskDispatcher, timeout: float) -> None:
    """waitress stops waiting for its workers after 5 s, but a send may take up to its
    deadline: a worker still sending when the idempotency store closed could not record its
    outcome, and its key would lapse into "outcome unknown" instead of replaying the answer."""
    if dispatcher.threads:
        log.info("waiting up to %g s for %d request(s) in flight", timeout, len(dispatcher.threads))
        dispatcher.shutdown(cancel_pending=False, timeout=timeout)


def _cannot_listen(exc: Exception, host: str, port: int) -> ConfigError:
    """One line for the operator instead of waitress's traceback."""
    if isinstance(exc, OSError):  # the port is taken, or the address is not this machine's
        reason = exc.strerror or str(exc)
    else:  # waitress's ValueError for an address no resolver knows
        reason = "HOST is not an IP address of this machine nor a name that resolves to one"
    return ConfigError(f"cannot listen on HOST={host!r} PORT={port}: {reason}")
