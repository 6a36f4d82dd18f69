"""Header values and single-part text bodies, written directly for ``Message.set_raw``.

Building an ``EmailMessage`` through ``message[name] = value`` and ``set_content()`` parses
every header it stores (bench/RESULTS.md has the cost); most of what this service sends needs
none of that work. Here the common case (a short ASCII header, a text body) is written as
the email package would write it, and everything else is still handed to the email package.
tests/unit/test_mime.py checks both against the email package's own output.
"""

from __future__ import annotations

import re
from email import quoprimime
from email.charset import Charset
from email.message import EmailMessage
from email.policy import EmailPolicy

MAX_LINE = 78  # the SMTP policies' max_line_length: shorter lines are never folded
# A line end inside a folded header that does not continue it: the start of a new header.
_NEW_LINE_WITHOUT_FWS = re.compile(rb"\r\n[^ \t]|\r[^ \n\t]|\n[^ \t]")


class UnsafeHeader(ValueError):
    """A header would break out of its line; the caller sees 422 naming ``field``."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class VerifiedPolicy(EmailPolicy):
    """An EmailPolicy that refuses to write a header whose folded form starts a new line.

    The email package decodes RFC 2047 encoded words when a header is set and, before the
    fix for CVE-2024-6923 (Python 3.11.7 has none), writes a decoded CR LF as it is. The
    builder refuses such values first (``has_unsafe_header_chars``); this is the last check,
    also for what a ``before_send`` hook sets, on every interpreter.
    """

    def fold(self, name, value):
        folded = super().fold(name, value)
        _verify(name, folded.encode("utf-8", "surrogateescape"), self.linesep.encode())
        return folded

    def fold_binary(self, name, value):
        folded = super().fold_binary(name, value)
        _verify(name, folded, self.linesep.encode())
        return folded


def _verify(name: str, folded: bytes, linesep: bytes) -> None:
    if not folded.endswith(linesep) or _NEW_LINE_WITHOUT_FWS.search(folded[: -len(linesep)]):
        raise UnsafeHeader(name.lower(), f"The {name} header would contain a line break.")


class BuiltMessage(EmailMessage):
    """An ``EmailMessage`` that may carry its bytes, written once when it was built.

    Flattening is not free (the generator parses Content-Type again). ``wire``, when
    set, is what ``as_bytes()`` returns; whoever lets code change the message afterwards (the
    Mailer, before the before_send hooks) sets it back to None.
    """

    wire: bytes | None = None

    def as_bytes(self, unixfrom: bool = False, policy=None) -> bytes:
        if self.wire is not None and not unixfrom and policy is None:
            return self.wire
        return super().as_bytes(unixfrom, policy)


def flatten_single_part(message: EmailMessage, payload: str) -> bytes:
    """What ``BytesGenerator`` writes for a single-part message whose payload is ``payload``
    (encoded text): each header folded by the policy, the payload's lines CRLF-ended.

    ``payload`` is passed in because ``get_payload()`` parses Content-Transfer-Encoding.
    """
    policy = message.policy
    linesep = policy.linesep.encode("ascii")
    head = b"".join(_folded(policy, name, value, linesep) for name, value in message.raw_items())
    # bytes.splitlines: CR, LF and CRLF only, as the generator splits (str's also splits \x1e).
    return head + linesep + linesep.join(payload.encode("ascii").splitlines()) + linesep


def _folded(policy: EmailPolicy, name: str, value, linesep: bytes) -> bytes:
    """``policy.fold_binary(name, value)``, without its work for a plain one-line text."""
    if type(value) is str and len(name) + 2 + len(value) <= MAX_LINE:
        line = f"{name}: {value}"
        if line.isascii() and "\r" not in line and "\n" not in line:
            return line.encode("ascii") + linesep
    return policy.fold_binary(name, value)


def header_value(policy: EmailPolicy, name: str, value: str):
    """What ``message.set_raw(name, ...)`` needs to emit ``value`` as ``message[name] = value``
    would: the text itself when it is one plain line, else the email package's header object
    (folded and encoded when the message is flattened)."""
    if len(name) + 2 + len(value) <= MAX_LINE and value.isascii() and "=?" not in value:
        if value == value.strip() and "  " not in value and "\t" not in value:
            return value  # one plain line: the email package emits it unchanged
    return policy.header_factory(name, value)


# Headers made of msg-ids (RFC 5322 §3.6.4), where RFC 2047 §5 forbids encoded words.
MSG_ID_HEADERS = frozenset({"in-reply-to", "references"})
_UTF8 = Charset("utf-8")


def fold_at_white_space(name: str, value: str) -> str:
    """An ASCII value for ``Message.set_raw``, folded between its words only and never
    encoded: a msg-id longer than a line (Outlook's are 87 characters) stays whole."""
    lines, line = [], name + ":"
    for word in value.split():
        if len(line) + 1 + len(word) > MAX_LINE and line != name + ":":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\n".join(lines)[len(name) + 2 :]


def attachment_content_type(content_type: str, charset: str | None, filename: str) -> str:
    """A Content-Type value for ``Message.set_raw`` with an RFC 2047-encoded ``name=`` for a
    non-ASCII file name: the fallback most mail programs write beside RFC 2231's
    ``filename*=``, for readers (munpack) that know only this one."""
    value = content_type + (f'; charset="{charset}"' if charset else "")
    return f'{value};\n name="{_UTF8.header_encode(filename)}"'


def set_text_body(message: EmailMessage, text: str, subtype: str) -> str:
    """The single ``text/<subtype>`` body of ``message``, in UTF-8; returns the payload set.

    7bit when it is ASCII in short lines; quoted-printable otherwise, which survives any
    relay (8bit needs the server's 8BITMIME) and keeps every line under 78 characters. Line
    ends become CRLF on the wire, whichever convention ``text`` used.
    """
    lines = text.encode("utf-8").splitlines()  # bytes split on CR, LF and CRLF only
    body = b"\n".join(lines) + b"\n"
    if text.isascii() and max(map(len, lines), default=0) <= MAX_LINE:
        cte, payload = "7bit", body.decode("ascii")
    else:
        cte, payload = "quoted-printable", quoprimime.body_encode(body.decode("latin-1"), MAX_LINE)
    message.set_raw("Content-Type", f'text/{subtype}; charset="utf-8"')
    message.set_raw("Content-Transfer-Encoding", cte)
    message.set_raw("MIME-Version", "1.0")
    message.set_payload(payload)
    return payload
