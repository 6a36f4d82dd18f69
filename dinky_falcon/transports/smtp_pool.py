"""A small thread-safe pool of open SMTP connections, shared by the server's worker threads."""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import TransportError
from .deadline import Deadline

T = TypeVar("T")

# Servers drop idle sessions after a few minutes (Postfix: 300 s); closing ours first keeps
# the pool from handing out connections that are about to die.
IDLE_SECONDS = 60.0


class StaleConnection(smtplib.SMTPServerDisconnected):
    """A reused connection was found closed by the server before anything was sent on it."""


class SmtpPool:
    """At most ``size`` open connections; idle ones are reused, newest first, then closed.

    ``connect(deadline)`` opens a ready connection (greeted, encrypted, logged in) whose socket
    the deadline cuts; a reused one's ``cutoff`` is handed to the deadline of its next send. Opening happens in the calling thread, outside the lock, so a slow server
    never blocks the other threads.
    """

    def __init__(
        self,
        connect: Callable[[Deadline | None], smtplib.SMTP],
        size: int,
        wait_seconds: float,
        idle_seconds: float = IDLE_SECONDS,
        reuse: bool = True,
    ):
        self._connect = connect
        self._size = size
        self._slots = threading.BoundedSemaphore(size)
        self._wait_seconds = wait_seconds
        self._idle_seconds = idle_seconds
        self._reuse = reuse  # False: every connection is closed after one use
        self._idle: list[tuple[float, smtplib.SMTP]] = []  # (when it was put back, connection)
        self._busy = 0  # slots taken: a connection in use or being opened (for the metrics)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None

    @property
    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    @property
    def open_count(self) -> int:
        """Connections in use (or being opened) and idle ones."""
        with self._lock:
            return self._busy + len(self._idle)

    def run(self, work: Callable[[smtplib.SMTP], T], deadline: Deadline | None = None) -> T:
        """``work(connection)`` on a pooled connection, and its result; the wait for a free
        connection and the work on it end by ``deadline``.

        When ``work`` raises StaleConnection on a reused connection, it runs once more on a
        new one: ``work`` must raise it only when nothing was accepted yet, so no message can
        be sent twice. A connection is put back after success or after an SMTP refusal that
        RSET clears; after anything else it is closed.
        """
        wait = self._wait_seconds if deadline is None else deadline.bounded(self._wait_seconds)
        if not self._slots.acquire(timeout=wait):
            raise TransportError(
                f"all {self._size} SMTP connections stayed busy for {self._wait_seconds:g} s; "
                "retry later",
                temporary=True,
            )
        with self._lock:
            self._busy += 1
        try:
            connection, reused = self._take(deadline)
            try:
                try:
                    result = work(connection)
                except StaleConnection:
                    if not reused:
                        raise
                    _close(connection)
                    connection = self._connect(deadline)
                    result = work(connection)
            except smtplib.SMTPServerDisconnected:
                _close(connection)
                raise
            except smtplib.SMTPException:
                self._put_back_if_reset(connection)
                raise
            except BaseException:
                _close(connection)
                raise
            self._put_back(connection)
            return result
        finally:
            with self._lock:
                self._busy -= 1
            self._slots.release()

    def close(self) -> None:
        """Close every idle connection and stop the reaper; connections in use close on return."""
        self._closed.set()
        self._close_idle(older_than=0)

    def _take(self, deadline: Deadline | None) -> tuple[smtplib.SMTP, bool]:
        self._close_idle(older_than=self._idle_seconds)
        with self._lock:
            connection = self._idle.pop()[1] if self._idle else None
        if connection is None:
            return self._connect(deadline), False
        if deadline is not None:
            deadline.attach(connection.cutoff)
        return connection, True

    def _put_back(self, connection: smtplib.SMTP) -> None:
        # Closed or not, looked at under the lock that close()'s sweep of the idle ones takes:
        # a close() between the look and the append would leave this one open for ever.
        with self._lock:
            keep = self._reuse and not self._closed.is_set()
            if keep:
                self._idle.append((time.monotonic(), connection))
                if self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="dinky-falcon-smtp-reaper", daemon=True
                    )
                    self._reaper.start()
        if not keep:
            _close(connection)

    def _put_back_if_reset(self, connection: smtplib.SMTP) -> None:
        try:
            if connection.rset()[0] == 250:
                self._put_back(connection)
                return
        except (smtplib.SMTPException, OSError):
            pass
        _close(connection)

    def _reap(self) -> None:
        while not self._closed.wait(self._idle_seconds / 2):
            self._close_idle(older_than=self._idle_seconds)

    def _close_idle(self, older_than: float) -> None:
        limit = time.monotonic() - older_than
        with self._lock:
            expired = [c for since, c in self._idle if since <= limit]
            self._idle = [(since, c) for since, c in self._idle if since > limit]
        for connection in expired:
            _close(connection)


def _close(connection: smtplib.SMTP) -> None:
    """QUIT politely; a server that already hung up is fine."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()
