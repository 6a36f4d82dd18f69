"""The plain ``POST /send`` document, validated without marshmallow's machinery.

Most requests are the seed's shape: addresses as strings, a subject, a body, perhaps from,
cc, reply_to or html. For those, ``SendSchema.load`` spends most of its time walking its
thirteen fields and five hooks (a quarter of the service's own CPU per request,
bench/RESULTS.md). ``plain_request`` applies the same rules directly and returns what the
schema would, or None whenever anything is not plainly valid: then the schema decides, so
every error a client sees is still the schema's. tests/unit/test_plain_send.py holds the
two to the same answers for valid, near-valid and hostile documents.
"""

from __future__ import annotations

from ..mail.addresses import AddressError, has_unsafe_header_chars, parse_mailbox
from ..mail.request import SendRequest
from .schemas import MAX_REPLY_TO, MAX_SUBJECT_LENGTH, SendSchema

_RECIPIENTS = ("to", "cc", "bcc")
_PLAIN_KEYS = frozenset({*_RECIPIENTS, "reply_to", "from", "subject", "body", "text", "html"})


def plain_request(document, schema: SendSchema) -> SendRequest | None:
    """``schema.load(document)`` for a plainly valid document of the seed's fields, else None."""
    if type(document) is not dict or not document.keys() <= _PLAIN_KEYS:
        return None
    # The counts first, on the raw values, as the schema's counts_first does: no address of
    # an oversized list is parsed.
    recipients = sum(_count(document.get(name)) for name in _RECIPIENTS)
    if recipients > schema.max_recipients or _count(document.get("reply_to")) > MAX_REPLY_TO:
        return None
    subject = document.get("subject")
    # Longer than the limit before stripping: declined (the schema strips, then counts).
    if type(subject) is not str or len(subject) > MAX_SUBJECT_LENGTH:
        return None
    if has_unsafe_header_chars(subject):
        return None
    subject = subject.strip()
    if not subject:
        return None
    fields: dict = {"subject": subject}
    test_domains = schema.test_domains
    try:
        for name in (*_RECIPIENTS, "reply_to"):
            if name in document:
                fields[name] = _mailboxes(document[name], test_domains)
        if "from" in document:
            fields["from_"] = _mailbox(document["from"], test_domains)
    except _Decline:
        return None
    if "to" not in fields or not _bodies(document, fields):
        return None
    return SendRequest(**fields)


class _Decline(Exception):
    """Not plainly valid: the schema decides."""


def _count(value) -> int:
    # Absent or a list: its length; anything else is declined below, counted as one.
    if value is None:
        return 0
    return len(value) if type(value) is list else 1


def _mailbox(value, test_domains: bool):
    if type(value) is not str:
        raise _Decline  # {name, email} objects and wrong types: the schema's
    try:
        return parse_mailbox(value, test_domains)
    except AddressError:
        raise _Decline from None


def _mailboxes(value, test_domains: bool) -> tuple:
    if type(value) is str:
        return (_mailbox(value, test_domains),)
    if type(value) is not list or not value:
        raise _Decline
    return tuple(_mailbox(item, test_domains) for item in value)


def _bodies(document, fields: dict) -> bool:
    """Copy body, text and html into ``fields`` as the schema's make_request does; False
    when one is not a plain valid value or the set is not one the schema's
    one_set_of_bodies allows."""
    for name in ("body", "text"):
        if name in document:
            value = document[name]
            if type(value) is not str or "\x00" in value:
                return False
            fields[name] = value
    html = document.get("html", False)
    if type(html) is str:
        if "\x00" in html or "body" in fields:
            return False
        fields["html_body"] = html
    elif type(html) is bool:
        if "body" in fields:
            if "text" in fields:
                return False
        elif html or "text" not in fields:
            return False
        fields["html"] = html
    else:
        return False
    return True
