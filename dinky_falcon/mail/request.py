"""A validated request to send mail: what the HTTP schemas, the forms and the CLI produce and
the message builder reads. Plain dataclasses: no web framework, no marshmallow."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address


@dataclass(frozen=True)
class Attachment:
    """A decoded attachment; with ``content_id`` it is an inline part of the HTML."""

    filename: str
    content: bytes
    content_type: str
    content_id: str | None = None


@dataclass(frozen=True)
class SendRequest:
    """A validated ``POST /send`` body.

    ``body``/``html`` are the seed's pair (``html`` true: ``body`` is HTML). Without ``body``,
    ``text`` and ``html_body`` hold the plain-text and HTML bodies (at least one is set).
    """

    to: tuple[Address, ...]
    subject: str
    body: str | None = None
    from_: Address | None = None
    html: bool = False
    text: str | None = None
    html_body: str | None = None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    sender_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
