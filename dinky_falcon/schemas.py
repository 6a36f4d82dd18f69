"""marshmallow schemas for the request bodies of the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from .addresses import AddressError, has_unsafe_header_chars, parse_mailbox

MAX_SUBJECT_LENGTH = 998  # RFC 5322's line limit; the email package folds longer lines anyway
# An address with its display name. The email package folds a long name in quadratic time.
MAX_MAILBOX_LENGTH = 512


@dataclass(frozen=True)
class SendRequest:
    """A validated ``POST /send`` body."""

    to: tuple[Address, ...]
    subject: str
    body: str
    from_: Address | None = None
    html: bool = False


class Mailbox(fields.Field):
    """One address, ``a@example.org`` or ``Name <a@example.org>``, parsed strictly."""

    default_error_messages = {"invalid": "Not a valid email address: {reason}."}

    def _deserialize(self, value, attr, data, **kwargs) -> Address:
        if not isinstance(value, str):
            raise self.make_error("invalid", reason="expected a string")
        if len(value) > MAX_MAILBOX_LENGTH:
            raise self.make_error("invalid", reason=f"longer than {MAX_MAILBOX_LENGTH} characters")
        try:
            return parse_mailbox(value)
        except AddressError as exc:
            raise self.make_error("invalid", reason=str(exc).rstrip(".")) from None


class MailboxList(Mailbox):
    """One address or a non-empty list of them."""

    default_error_messages = {
        "invalid": "Not a valid email address: {reason}.",
        "empty": "At least one address is required.",
        "type": "Expected an address or a list of addresses.",
    }

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[Address, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.make_error("type")
        if not value:
            raise self.make_error("empty")
        errors, mailboxes = {}, []
        for index, item in enumerate(value):
            try:
                mailboxes.append(super()._deserialize(item, attr, data, **kwargs))
            except ValidationError as exc:
                errors[index] = exc.messages
        if errors:
            raise ValidationError(errors)
        return tuple(mailboxes)


class HeaderText(fields.String):
    """One header line: no line breaks or control characters; outer white space dropped,
    as a mail client would show it."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_unsafe_header_chars(text):
            raise ValidationError("Must not contain line breaks or control characters.")
        return text.strip()


def no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


class SendSchema(Schema):
    """``POST /send``: the seed's fields; unknown fields are refused by name."""

    to = MailboxList(required=True)
    subject = HeaderText(required=True, validate=validate.Length(min=1, max=MAX_SUBJECT_LENGTH))
    body = fields.String(required=True, validate=no_nul)
    from_ = Mailbox(data_key="from", load_default=None)
    html = fields.Boolean(load_default=False)

    def __init__(self, *, max_recipients: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.max_recipients = max_recipients

    @validates_schema
    def recipient_limit(self, data, **kwargs):
        count = len(data.get("to", ()))
        if count > self.max_recipients:
            raise ValidationError(
                f"{count} recipients; at most {self.max_recipients} are allowed.", "to"
            )

    @post_load
    def make_request(self, data, **kwargs) -> SendRequest:
        return SendRequest(**data)
