"""A validated request -> an ``email.message.EmailMessage`` and its SMTP envelope."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .addresses import (
    first_unsafe,
    format_address_list,
    needs_smtputf8,
    tidy_display_name,
)
from .html_text import html_to_text
from .mime import (
    MSG_ID_HEADERS,
    BuiltMessage,
    UnsafeHeader,
    VerifiedPolicy,
    attachment_content_type,
    flatten_single_part,
    fold_at_white_space,
    header_value,
    set_text_body,
)
from .request import Attachment, SendRequest
from .wire import Base64Part, flatten

UTF8_SLICE = 1 << 16


@dataclass(frozen=True)
class Envelope:
    """Who the message is from and to in SMTP terms (MAIL FROM and RCPT TO).

    ``recipients`` includes bcc, which no header shows. ``smtputf8``: an address has a
    non-ASCII local part, so the server must offer SMTPUTF8 (else the send fails for good).
    ``tags``: the request's tags (also in the X-Tags header), for hooks that log or count.
    """

    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool = False
    tags: tuple[str, ...] = ()


# email.policy.SMTP and SMTPUTF8, each header checked as it is written (VerifiedPolicy).
# Address headers are stored pre-folded (see format_address_list): emit them as they are.
ASCII_POLICY = VerifiedPolicy(linesep="\r\n", refold_source="none")
UTF8_POLICY = ASCII_POLICY.clone(utf8=True)


def message_id(message: EmailMessage) -> str:
    """The Message-ID as it was set: reading ``message["Message-ID"]`` parses it again."""
    return next((str(v) for k, v in message.raw_items() if k.lower() == "message-id"), "")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _text_cte(text: str) -> str | None:
    # 8bit bodies need the server's 8BITMIME; quoted-printable travels through any relay.
    return None if text.isascii() else "quoted-printable"


def _unique(addresses: Iterable[Address]) -> tuple[str, ...]:
    seen, specs = set(), []
    for address in addresses:
        key = (address.username, address.domain.lower())
        if key not in seen:
            seen.add(key)
            specs.append(address.addr_spec)
    return tuple(specs)


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
        self._date = (None, "")  # the last Date header written: ((second, zone), text)
        # make_msgid() without a domain calls socket.getfqdn(): a DNS lookup per message.
        self.make_id = make_id or (lambda: make_msgid(domain=mail_domain))

    def sender(self, request: SendRequest) -> Address:
        if request.from_ is not None:
            return request.from_
        if request.sender_name:
            name = tidy_display_name(request.sender_name)
            return Address(name, self.default_from.username, self.default_from.domain)
        return self.default_from

    def date(self) -> str:
        """The Date header for now, written once a second: strftime is a tenth of a build."""
        now = self.clock().replace(microsecond=0)
        key = now, now.tzinfo  # equal instants in two zones are written apart
        written, text = self._date  # one tuple: another thread may be replacing it
        if written != key:
            text = format_datetime(now)
            self._date = key, text
        return text

    def build(self, request: SendRequest) -> tuple[BuiltMessage, Envelope]:
        """The message and its envelope; UnsafeHeader when a text bound for a header would
        break out of its line, whichever way the request was made (API, form, plugin)."""
        sender = self.sender(request)
        field = first_unsafe(_header_texts(request, sender))
        if field is not None:
            raise UnsafeHeader(
                field,
                "Must not contain line breaks or control characters, "
                "nor an RFC 2047 encoded word hiding one.",
            )
        shown = (sender, *request.to, *request.cc, *request.reply_to)
        # Only SMTPUTF8 lets a header carry a non-ASCII local part (RFC 6532).
        message = BuiltMessage(
            policy=UTF8_POLICY if any(map(needs_smtputf8, shown)) else ASCII_POLICY
        )
        for name, addresses in (
            ("From", (sender,)),
            ("To", request.to),
            ("Cc", request.cc),
            ("Reply-To", request.reply_to),
        ):
            if addresses:
                message.set_raw(name, format_address_list(addresses))
        policy = message.policy
        message.set_raw("Subject", header_value(policy, "Subject", request.subject))
        message.set_raw("Date", self.date())
        message.set_raw("Message-ID", self.make_id())
        for name, value in request.headers:
            if name.lower() in MSG_ID_HEADERS and value.isascii():
                message.set_raw(name, fold_at_white_space(name, value))
            else:
                message.set_raw(name, header_value(policy, name, value))
        if request.tags:
            message.set_raw("X-Tags", header_value(policy, "X-Tags", ", ".join(request.tags)))
        self._set_bodies(message, request)
        recipients = (*request.to, *request.cc, *request.bcc)
        envelope = Envelope(
            sender.addr_spec,
            _unique(recipients),
            smtputf8=any(map(needs_smtputf8, (sender, *recipients))),
            tags=request.tags,
        )
        return message, envelope

    def _set_bodies(self, message: BuiltMessage, request: SendRequest) -> None:
        if request.body is not None:
            text, html = (None, request.body) if request.html else (request.body, None)
        else:
            text, html = request.text, request.html_body
        if html is not None and text is None:
            # HTML alone is what spam filters score (MIME_HTML_ONLY): a text part goes with it.
            text = html_to_text(html)
        if not request.attachments and html is None:
            # One part, by far the most common message: written without the email package.
            payload = set_text_body(message, text, "plain")
            message.wire = flatten_single_part(message, payload)
            return
        message.set_content(text, cte=_text_cte(text))
        if html is not None:
            message.add_alternative(html, subtype="html", cte=_text_cte(html))
            html_part = message.get_payload()[-1]
            for attachment in request.attachments:
                if attachment.content_id:
                    _attach(html_part, "related", attachment, disposition="inline")
        for attachment in request.attachments:
            if not attachment.content_id:
                _attach(message, "mixed", attachment, disposition="attachment")
        if message.is_multipart():
            for part in message.walk():
                # EmailMessage gives each part it makes a MIME-Version; it belongs on top only.
                if part is not message:
                    del part["MIME-Version"]
            message.wire = flatten(message)  # one buffer, no copy per MIME level (wire.py)


def _header_texts(request: SendRequest, sender: Address) -> Iterator[tuple[str, str]]:
    """Every text of ``request`` that goes into a header, with the field it came from."""
    yield "subject", request.subject
    for name, value in request.headers:
        yield "headers", name
        yield "headers", value
    for tag in request.tags:
        yield "tags", tag
    shown = {"from": (sender,), "to": request.to, "cc": request.cc, "reply_to": request.reply_to}
    for field, addresses in shown.items():
        for address in addresses:
            yield field, address.display_name
            yield field, address.addr_spec
    for attachment in request.attachments:
        yield "attachments", attachment.filename
        yield "attachments", attachment.content_type
        yield "attachments", attachment.content_id or ""


def _attach(container: EmailMessage, subtype: str, attachment: Attachment, **options) -> None:
    """``container.add_attachment`` (subtype mixed) or ``add_related`` (related), with a part
    that keeps the attachment's bytes rather than their base64 text (wire.Base64Part)."""
    if container.get_content_type() != f"multipart/{subtype}":
        getattr(container, f"make_{subtype}")()
    maintype, content_subtype = attachment.content_type.split("/", 1)
    if attachment.content_id:
        options["cid"] = f"<{attachment.content_id}>"
    charset = "utf-8" if maintype == "text" and _is_utf8(attachment.content) else None
    if charset:
        options["params"] = {"charset": charset}
    part = Base64Part(policy=container.policy)
    # The headers as the email package writes them for these bytes; the bytes themselves
    # are not encoded here but when the message is written.
    part.set_content(b"", maintype, content_subtype, filename=attachment.filename, **options)
    part.content = attachment.content
    if not attachment.filename.isascii():
        del part["Content-Type"]
        part.set_raw(
            "Content-Type",
            attachment_content_type(attachment.content_type, charset, attachment.filename),
        )
    container.attach(part)


def _is_utf8(content: bytes) -> bool:
    """Whether ``content`` is UTF-8, decoded a slice at a time: the whole text at once would
    be up to four times the attachment's size (a str of wide characters)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(content)
    try:
        for start in range(0, len(view), UTF8_SLICE):
            decoder.decode(view[start : start + UTF8_SLICE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
