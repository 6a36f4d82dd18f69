"""One INFO line per message on ``dinky_falcon.messages``: what became of it, never whom it
was for nor what it said (no address, no subject, no body: only how many recipients).

The same fields ride on the log record (``record.fields``), so LOG_FORMAT=json writes them as
keys (logs.JsonLines), and the metrics count the same events (web/metrics.py).
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

from .log_writer import info

log = logging.getLogger("dinky_falcon.messages")

# What became of a message: the transport accepted it, refused it for good, failed (retry
# later), may have it (its reply was lost); or no message was sent because an identical
# request was answered before (duplicate) or a bot filled a form's honeypot.
OUTCOMES = ("sent", "refused", "failed", "unknown", "duplicate", "honeypot")

# The upstream's reply to a message names its queue ID: Postfix "250 2.0.0 Ok: queued as
# 1C51B1866DA", Gmail "250 2.0.0 OK  1700000000 a1b2c3d4e5-6f7a8b9c0d1si12345 - gsmtp".
_QUEUE_ID = (
    re.compile(r"\bqueued as ([A-Za-z0-9._-]{1,64})\b", re.IGNORECASE),
    re.compile(r"\bOK\s+\d+\s+([A-Za-z0-9._-]{1,80})\s+-\s+gsmtp\b"),
)


def queue_id(reply: str) -> str | None:
    """The queue ID in an SMTP server's final reply to a message, or None."""
    for pattern in _QUEUE_ID:
        match = pattern.search(reply)
        if match:
            return match.group(1)
    return None


class MessageEvent(NamedTuple):
    """What one message (or one request that became none) came to. (A named tuple: made for
    every request, a frozen dataclass cost five times as much.)"""

    outcome: str
    message_id: str | None
    transport: str | None
    recipients: int
    seconds: float | None = None
    queue_id: str | None = None
    key: str | None = None  # the API key's label
    form: str | None = None  # or the form's name

    def fields(self) -> dict:
        """The log line's fields, in order; absent ones left out."""
        fields = {}
        if self.message_id is not None:
            fields["message_id"] = self.message_id
        if self.transport is not None:
            fields["transport"] = self.transport
        fields["outcome"] = self.outcome
        if self.seconds is not None:
            fields["ms"] = round(self.seconds * 1000, 1)
        if self.key is not None:
            fields["key"] = self.key
        if self.form is not None:
            fields["form"] = self.form
        fields["recipients"] = self.recipients
        if self.queue_id is not None:
            fields["queue_id"] = self.queue_id
        return fields


def log_message(event: MessageEvent) -> None:
    fields = event.fields()
    text = " ".join([f"{name}={value}" for name, value in fields.items() if name != "message_id"])
    info(log, "message %s %s", event.message_id or "-", text, fields=fields)


def replayed(answer, request, **caller) -> MessageEvent:
    """The event of a request answered from the idempotency store (an ``Answer`` to the
    ``SendRequest``): nothing sent again; ``caller`` is ``key=`` or ``form=``."""
    recipients = len(request.to) + len(request.cc) + len(request.bcc)
    body = answer.body
    return MessageEvent(
        "duplicate",
        body.get("id"),
        body.get("transport"),
        recipients,
        queue_id=body.get("queue_id"),
        **caller,
    )
