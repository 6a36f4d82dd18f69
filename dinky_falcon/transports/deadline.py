"""A deadline for a whole SMTP conversation, not only for each network wait.

A socket timeout bounds one read: a server that sends a byte, or a line, just before each
timeout ends can hold the sender for as long as it likes (a tarpit). Each connection keeps a
Cutoff, a duplicate of its socket made once when it connects; a Deadline names the Cutoff of
the connection its send uses and, when its time is up, one watchdog thread shuts that socket
down: whatever read or write is blocked on it returns at once, in plain sockets and in TLS
alike (the duplicate is the same kernel socket, before and after STARTTLS).

A send on a pooled connection costs no descriptor and no system call here, and the watchdog
forgets a deadline when its send ends: it wakes only for a deadline that is due, or one
sooner than it waits for, never once per send (bench/RESULTS.md, issue #19).
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time


class Cutoff:
    """A duplicate of a connection's socket, which another thread may shut down safely for as
    long as the connection is open; ``close()`` it with the connection."""

    def __init__(self, sock: socket.socket):
        # A plain socket on a duplicate descriptor: SSLSocket has no dup(), shutting the
        # kernel socket down ends TLS reads and writes as well, and no reuse of the
        # connection's own descriptor number can make us shut another socket.
        self._socket: socket.socket | None = socket.socket(fileno=os.dup(sock.fileno()))
        self._lock = threading.Lock()

    def cut(self) -> None:
        with self._lock:
            if self._socket is not None:
                try:
                    self._socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer: nothing is waiting on it

    def close(self) -> None:
        with self._lock:
            duplicate, self._socket = self._socket, None
        if duplicate is not None:
            duplicate.close()


class Deadline:
    """``with Deadline(seconds) as deadline:`` a send; ``deadline.attach(cutoff)`` names the
    connection it uses. ``expired`` says whether the time ran out (the send's error says so)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._cutoff: Cutoff | None = None
        self._over = False  # the send ended: nothing left to cut

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def bounded(self, timeout: float) -> float:
        """``timeout``, or less when the deadline comes first (never zero: that would mean
        non-blocking to a socket)."""
        return max(0.001, min(timeout, self.remaining()))

    def attach(self, cutoff: Cutoff) -> None:
        """Cut ``cutoff``'s connection when the time is up (at once, if it already is)."""
        with self._lock:
            if self._over:
                return
            self._cutoff = cutoff
            if self.expired:
                cutoff.cut()

    def expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            if self._cutoff is not None:
                self._cutoff.cut()

    def __enter__(self) -> Deadline:
        _watchdog.watch(self)
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._over = True  # from here on, the connection may serve another send
            self._cutoff = None
        _watchdog.forget(self)


class _Watchdog:
    """One thread for every deadline of the process, started at the first one.

    It sleeps until the soonest deadline it knew of when it last looked; a deadline that comes
    later needs no wake-up (the thread looks again when it wakes), a sooner one does.
    """

    def __init__(self):
        self._live: set[Deadline] = set()  # as many as sends in progress: min() is cheap
        self._wake = threading.Condition(threading.Lock())
        self._waking_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._wake:
            self._live.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dinky-falcon-deadline", daemon=True
                )
                self._thread.start()
            if deadline.at < self._waking_at:
                self._waking_at = deadline.at
                self._wake.notify()

    def forget(self, deadline: Deadline) -> None:
        with self._wake:
            self._live.discard(deadline)

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [deadline for deadline in self._live if deadline.at <= now]
                self._live.difference_update(due)
                if not due:
                    self._waking_at = min((d.at for d in self._live), default=math.inf)
                    self._wake.wait(None if self._waking_at == math.inf else self._waking_at - now)
                    continue
            for deadline in due:
                deadline.expire()


_watchdog = _Watchdog()
