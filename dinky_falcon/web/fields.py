"""marshmallow fields for ``POST /send``: mailboxes, file names, base64 and custom headers.

Each field carries its OpenAPI description in ``metadata`` so that ``/openapi.json`` is
generated from the same code that validates (see web/openapi.py).
"""

from __future__ import annotations

import binascii
import re
from email.headerregistry import Address

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from marshmallow import ValidationError, fields, validate

from ..mail.addresses import (
    MAX_MAILBOX_LENGTH,
    AddressError,
    has_unsafe_header_chars,
    parse_mailbox,
    tidy_display_name,
)
from ..mail.request import file_name_problems

MAX_NAME_LENGTH = 200

# OpenAPI patterns (ECMA-262) for what the validators below refuse, so that a client or a
# test generator reading /openapi.json knows it too.
SINGLE_LINE_PATTERN = r"^[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"
FILE_NAME_PATTERN = r"^(?!\s*\.{1,2}\s*$)(?=.*\S)[^/\\\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]+$"


def _any_case(name: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in name)


# email-validator refuses special-use domains (RFC 6761: .test, .local, ...): say so.
NOT_SPECIAL_USE_PATTERN = r"^(?!.*[.@](?:{names})\.?>?$)".format(
    names="|".join(map(_any_case, SPECIAL_USE_DOMAIN_NAMES))
)

# The OpenAPI component for one address; openapi.py registers it under this name.
MAILBOX_COMPONENT = {
    "oneOf": [
        {
            "type": "string",
            "format": "email",
            "pattern": NOT_SPECIAL_USE_PATTERN,
            "description": "`a@example.org`, or with a name: `Ada Lovelace <ada@example.org>`",
        },
        {
            "type": "object",
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": MAX_NAME_LENGTH,
                    "pattern": SINGLE_LINE_PATTERN,
                    "description": "display name, any language",
                },
                "email": {
                    "type": "string",
                    "format": "email",
                    "pattern": NOT_SPECIAL_USE_PATTERN,
                    "description": "the address alone",
                },
            },
            "required": ["email"],
            "additionalProperties": False,
        },
    ]
}
_MAILBOX_REF = {"$ref": "#/components/schemas/Mailbox"}


def single_line(value: str) -> None:
    if has_unsafe_header_chars(value):
        raise ValidationError("Must not contain line breaks or control characters.")


class HeaderText(fields.String):
    """One header line: no line breaks or control characters; outer white space dropped,
    as a mail client would show it."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        single_line(text)
        return text.strip()


class Mailbox(fields.Field):
    """One address: ``a@example.org``, ``Name <a@example.org>`` or ``{"name", "email"}``."""

    default_error_messages = {"invalid": "Not a valid email address: {reason}."}
    openapi: dict = {"allOf": [_MAILBOX_REF]}

    def __init__(self, **kwargs):
        kwargs["metadata"] = {**self.openapi, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> Address:
        if isinstance(value, dict):
            return self._from_object(value)
        if not isinstance(value, str):
            raise self.make_error("invalid", reason="expected a string or a {name, email} object")
        return self._parse(value)

    def _parse(self, text: str) -> Address:
        if len(text) > MAX_MAILBOX_LENGTH:
            raise self.make_error("invalid", reason=f"longer than {MAX_MAILBOX_LENGTH} characters")
        # SendSchema(test_domains=True) in development with sinks (Settings.accepts_test_domains)
        test_domains = getattr(self.root, "test_domains", False)
        try:
            return parse_mailbox(text, test_domains)
        except AddressError as exc:
            raise self.make_error("invalid", reason=str(exc).rstrip(".")) from None

    def _from_object(self, value: dict) -> Address:
        unknown = set(value) - {"name", "email"}
        if unknown:
            raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
        name, email = value.get("name", ""), value.get("email")
        if not isinstance(email, str):
            raise ValidationError({"email": ["A string address is required."]})
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
            raise ValidationError({"name": [f"A string of at most {MAX_NAME_LENGTH} characters."]})
        if has_unsafe_header_chars(name):
            raise ValidationError({"name": ["Must not contain line breaks or control characters."]})
        address = self._parse(email)
        if address.display_name:
            raise ValidationError({"email": ["Give the name in 'name', not in 'email'."]})
        return Address(
            display_name=tidy_display_name(name), username=address.username, domain=address.domain
        )


class MailboxList(Mailbox):
    """One address or a non-empty list of them."""

    default_error_messages = {
        "invalid": "Not a valid email address: {reason}.",
        "empty": "At least one address is required.",
        "type": "Expected an address or a list of addresses.",
    }

    openapi = {"oneOf": [_MAILBOX_REF, {"type": "array", "items": _MAILBOX_REF, "minItems": 1}]}

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[Address, ...]:
        if isinstance(value, (str, dict)):
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


class HtmlOrFlag(fields.Field):
    """``html``: the seed's boolean (``body`` is HTML) or, as a string, the HTML body itself."""

    default_error_messages = {"invalid": "Must be a boolean, or the HTML body as a string."}

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "metadata",
            {
                "oneOf": [
                    {"type": "boolean", "description": "`true`: `body` is HTML"},
                    {"type": "string", "pattern": NO_NUL_PATTERN, "description": "the HTML body"},
                ]
            },
        )
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> bool | str:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationError("Must not contain NUL characters.")
            return value
        raise self.make_error("invalid")


# ASCII white space, dropped from base64 in one pass (str.translate writes one new string).
_NO_WHITE_SPACE = dict.fromkeys(map(ord, " \t\n\r\v\f"))
_WHITE_SPACE = re.compile(r"[ \t\n\r\v\f]")


class Base64Bytes(fields.String):
    """Standard base64 (line breaks and spaces ignored) -> the decoded bytes."""

    default_error_messages = {"invalid_base64": "Not valid base64: {reason}."}

    def _deserialize(self, value, attr, data, **kwargs) -> bytes:
        # The text is decoded as it is (a2b_base64 reads an ASCII str), copied once only when
        # it has line breaks: an attachment is most of a request's bytes, and each copy of it
        # adds to what every request in flight holds.
        text = super()._deserialize(value, attr, data, **kwargs)
        if _WHITE_SPACE.search(text):
            text = text.translate(_NO_WHITE_SPACE)
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: not ASCII
            raise self.make_error("invalid_base64", reason=str(exc).rstrip(".")) from None


def file_name(value: str) -> None:
    problems = file_name_problems(value)
    if problems:
        raise ValidationError(problems)


class FullMatch(validate.Regexp):
    """Regexp that must match the whole value (Regexp only anchors the start); the pattern is
    written ``^...$`` so that OpenAPI's ``pattern`` says the same."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


MIME_TYPE = FullMatch(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$",
    error="Not a MIME type like image/png.",
)
CONTENT_ID = FullMatch(
    r"^[A-Za-z0-9][A-Za-z0-9._@$+-]{0,99}$", error="Letters, digits and ._@$+- only, at most 100."
)
TAG = FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,63}$", error="1-64 of A-Z a-z 0-9 _.:/@+- only.")


def leaf_type(value: str) -> None:
    # multipart/* and message/* parts need a structure that an attachment does not have.
    if value.lower().startswith(("multipart/", "message/")):
        raise ValidationError("multipart/* and message/* cannot be attached.")


HEADER_NAME = re.compile(r"[!-9;-~]{1,76}", re.ASCII)  # printable ASCII but ':'

# Besides X-*, the headers a sender may set. Everything else is either built by the service
# (From, To, Date, MIME structure...) or has its own field (reply_to, cc, bcc, tags).
ALLOWED_HEADERS = frozenset(
    name.lower()
    for name in (
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "List-Id",
        "List-Help",
        "List-Subscribe",
        "List-Post",
        "List-Owner",
        "List-Archive",
        "In-Reply-To",
        "References",
        "Precedence",
        "Auto-Submitted",
        "Organization",
        "Keywords",
        "Comments",
        "Importance",
        "Priority",
    )
)
RESERVED_X_HEADERS = frozenset({"x-tags"})  # set by the tags field


HEADER_NAME_PATTERN = "^(?!{reserved}$)(?:[Xx]-[!-9;-~]{{1,74}}|{allowed})$".format(
    reserved="|".join(map(_any_case, sorted(RESERVED_X_HEADERS))),
    allowed="|".join(map(_any_case, sorted(ALLOWED_HEADERS))),
)


def header_name(name: str) -> None:
    if not HEADER_NAME.fullmatch(name):
        raise ValidationError("Not a valid header name.")
    lowered = name.lower()
    if lowered in RESERVED_X_HEADERS:
        raise ValidationError(f"{name} is set by the 'tags' field.")
    if not (lowered.startswith("x-") or lowered in ALLOWED_HEADERS):
        raise ValidationError(
            f"{name} cannot be set: only X-* headers and "
            "List-*, In-Reply-To, References, Precedence, Auto-Submitted, Organization, "
            "Keywords, Comments, Importance, Priority are allowed."
        )
