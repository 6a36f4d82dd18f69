"""A deadline for a whole SMTP conversation, not only for each network wait.

A socket timeout bounds one read: a server that sends a byte, or a line, just before each
timeout ends can hold the sender for as long as it likes (a tarpit). A Deadline holds a
duplicate of the connection's socket and, when its time is up, one watchdog thread shuts that
socket down: whatever read or write is blocked on it returns at once, in plain sockets and in
TLS alike (the duplicate is the same kernel socket, before and after STARTTLS).
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time


class Deadline:
    """``with Deadline(seconds) as deadline:`` a send; ``deadline.attach(sock)`` names the
    socket it uses. ``expired`` says whether the time ran out (the send's error says so)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None  # our duplicate: no fd reuse can fool us
        self._over = False  # the send ended: nothing left to cut

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def bounded(self, timeout: float) -> float:
        """``timeout``, or less when the deadline comes first (never zero: that would mean
        non-blocking to a socket)."""
        return max(0.001, min(timeout, self.remaining()))

    def attach(self, sock: socket.socket) -> None:
        """Cut ``sock`` when the time is up (at once, if it already is)."""
        # A plain socket on a duplicate descriptor: SSLSocket has no dup(), and shutting the
        # kernel socket down ends TLS reads and writes as well.
        duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            if self._over:  # the send ended: keep no duplicate open
                previous, duplicate = duplicate, None
            else:
                previous, self._socket = self._socket, duplicate
            if self.expired and duplicate is not None:
                _shut(duplicate)
        if previous is not None:
            previous.close()

    def expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)

    def __enter__(self) -> Deadline:
        _watchdog.watch(self)
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._over = True
            duplicate, self._socket = self._socket, None
        if duplicate is not None:
            duplicate.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer: nothing is waiting on it


class _Watchdog:
    """One thread for every deadline of the process, started at the first one."""

    def __init__(self):
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dinky-falcon-deadline", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is deadline:  # sooner than what the thread waits for
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, deadline = heapq.heappop(self._heap)
            deadline.expire()  # a no-op for a send that ended in time


_watchdog = _Watchdog()
