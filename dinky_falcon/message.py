"""A validated request -> an ``email.message.EmailMessage`` and its SMTP envelope."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from .addresses import format_address_header
from .schemas import SendRequest


@dataclass(frozen=True)
class Envelope:
    """Who the message is from and to in SMTP terms (MAIL FROM and RCPT TO)."""

    sender: str
    recipients: tuple[str, ...]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class MessageBuilder:
    """Builds messages for one MAIL_DOMAIN; the clock and the id maker are injectable."""

    def __init__(
        self,
        default_from: Address,
        mail_domain: str,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] | None = None,
    ):
        self.default_from = default_from
        self.clock = clock
        # make_msgid() without a domain calls socket.getfqdn(): a DNS lookup per message.
        self.make_id = make_id or (lambda: make_msgid(domain=mail_domain))

    def build(self, request: SendRequest) -> tuple[EmailMessage, Envelope]:
        sender = request.from_ or self.default_from
        message = EmailMessage(policy=SMTP)
        message.set_raw("From", format_address_header("From", [sender]))
        message.set_raw("To", format_address_header("To", request.to))
        message["Subject"] = request.subject
        message["Date"] = format_datetime(self.clock())
        message["Message-ID"] = self.make_id()
        # 8bit bodies need the server's 8BITMIME; quoted-printable travels through any relay.
        message.set_content(
            request.body,
            subtype="html" if request.html else "plain",
            cte=None if request.body.isascii() else "quoted-printable",
        )
        envelope = Envelope(sender.addr_spec, tuple(a.addr_spec for a in request.to))
        return message, envelope
