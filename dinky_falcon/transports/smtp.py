"""SMTP delivery shared by the ``postfix`` and ``gmail``/``relay`` transports.

An Endpoint says where and how to connect; SmtpTransport sends through a pool of open
connections and turns every failure into a TransportError a person can act on: OutcomeUnknown
when the server had the whole message and its reply was lost. A send, waiting for a pooled
connection included, is over within SEND_DEADLINE_FACTOR times SMTP_TIMEOUT (deadline.py).
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..message_log import queue_id
from .deadline import Deadline
from .resolve import connect, resolve
from .smtp_endpoint import (  # noqa: F401 - the names the SMTP transports import from here
    APP_PASSWORDS_URL,
    IMPLICIT,
    OPPORTUNISTIC,
    PLAIN,
    SEND_DEADLINE_FACTOR,
    STARTTLS,
    Endpoint,
    is_loopback,
    tls_context,
)
from .smtp_errors import explain, reply_text
from .smtp_pool import IDLE_SECONDS, SmtpPool
from .smtp_session import _noop, _transact, open_connection


@dataclass(frozen=True)
class Accepted:
    """The server's final reply to a message, and the queue ID it names (when it does)."""

    reply: str
    queue_id: str | None


class SmtpTransport:
    """Sends through a pool of ``pool_size`` connections to one Endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        pool_size: int,
        idle_seconds: float = IDLE_SECONDS,
        reuse: bool = True,
    ):
        self.endpoint = endpoint
        self.pool = SmtpPool(
            lambda deadline: open_connection(endpoint, deadline=deadline),
            pool_size,
            endpoint.timeout,
            idle_seconds,
            reuse,
        )

    def send(self, message, envelope) -> Accepted:
        data = message.as_bytes()  # flattened once; a reconnect resends the same bytes
        smtputf8 = getattr(envelope, "smtputf8", False)
        reply = reply_text(
            self._run(lambda c: _transact(c, envelope.sender, envelope.recipients, data, smtputf8))
        )
        return Accepted(reply, queue_id(reply))

    def check(self) -> str:
        """Open (or reuse) a connection and NOOP on it; what was checked, in words."""
        self._run(_noop)
        checked = [self.endpoint.where]
        if self.endpoint.tls != PLAIN:
            verified = ", verified" if self.endpoint.verifies else ""
            checked.append(f"TLS {self.endpoint.tls}{verified}")
        if self.endpoint.username:
            checked.append(f"logged in as {self.endpoint.username}")
        return ", ".join(checked)

    def diagnose(self, report: Callable[[str], None]) -> None:
        """Each step on a new connection — DNS, TCP, SMTP, TLS, AUTH — reported as it passes."""
        endpoint = self.endpoint
        with Deadline(endpoint.deadline) as deadline:
            try:
                addresses = resolve(endpoint.host, endpoint.port, endpoint.timeout)
                shown = sorted({a[4][0] for a in addresses})
                report(f"DNS: {endpoint.host} is {', '.join(shown)}")
                started = time.perf_counter()
                connect(endpoint.host, endpoint.port, endpoint.timeout).close()
                elapsed = (time.perf_counter() - started) * 1000
                report(f"TCP: {endpoint.where} accepts connections ({elapsed:.0f} ms)")
                open_connection(endpoint, report, deadline).quit()
            except (smtplib.SMTPException, OSError) as exc:
                raise explain(exc, endpoint, deadline) from exc

    def close(self) -> None:
        self.pool.close()

    def _run(self, work):
        with Deadline(self.endpoint.deadline) as deadline:
            try:
                return self.pool.run(work, deadline)
            except (smtplib.SMTPException, OSError) as exc:
                raise explain(exc, self.endpoint, deadline) from exc
