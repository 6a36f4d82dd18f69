"""Parsing and checking what goes into a header: mailboxes and single-line text."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.policy import default as default_policy

from email_validator import EmailNotValidError, validate_email

# Characters that end or corrupt a header line: every C0/C1 control but TAB, DEL, and the
# Unicode separators that str.splitlines() (and so the email package) treats as line breaks.
_UNSAFE_IN_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NEEDS_HEADER_PARSER = re.compile(r'[<>"(),;:]')


class AddressError(ValueError):
    """The text is not one usable mailbox; the message says why."""


def has_unsafe_header_chars(text: str) -> bool:
    """True when ``text`` would break out of a header line (CR, LF and their relatives)."""
    return _UNSAFE_IN_HEADER.search(text) is not None


def parse_mailbox(text: str) -> Address:
    """``a@example.org`` or ``Name <a@example.org>`` -> Address, or AddressError."""
    if has_unsafe_header_chars(text):
        raise AddressError("must not contain line breaks or control characters")
    text = text.strip()
    name = ""
    spec = text
    if _NEEDS_HEADER_PARSER.search(text):
        header = default_policy.header_factory("to", text)
        groups = header.groups
        if header.defects or len(groups) != 1 or groups[0].display_name is not None:
            raise AddressError("is not a single valid email address")
        (mailbox,) = groups[0].addresses or (None,)
        if mailbox is None:
            raise AddressError("is not a single valid email address")
        name, spec = mailbox.display_name, mailbox.addr_spec
    try:
        valid = validate_email(spec, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    return Address(display_name=name, username=valid.local_part, domain=valid.ascii_domain)
