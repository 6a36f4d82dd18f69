"""A built message's bytes written once, into one buffer, as ``BytesGenerator`` writes them.

The email package's generator copies every part's bytes once per MIME level (each part is
written to a buffer of its own, then into its parent's), and an attachment it is given as
bytes is kept beside them as base64 text: for a 5 MiB attachment, five times the request's
body at once (bench/RESULTS.md, "Memory per request in flight"). Here an attachment keeps
only its decoded bytes (``Base64Part``) and its base64 lines are written straight into the
message's one buffer. tests/unit/test_wire.py checks the bytes against the generator's.
"""

from __future__ import annotations

import binascii
import io
import random
import re
import sys
from email.message import EmailMessage

from .mime import _folded

_LINE_END = re.compile(rb"\r\n|\r|\n")  # the generator's NLCRE
LINES_PER_CHUNK = 1024  # base64 is encoded 1024 lines (58 KiB of bytes) at a time


class Base64Part(EmailMessage):
    """A base64-encoded part that holds its decoded bytes (``content``) instead of their
    base64 text, which is made whenever the email package reads the payload (``_payload``
    is the attribute its methods and its generator read). Setting the payload replaces
    ``content``: the part then holds what was set, as any part does."""

    content: bytes | None = None
    _text = None

    @property
    def _payload(self):
        if self.content is None:
            return self._text
        buffer = io.BytesIO()
        write_base64(buffer, self.content, self.policy.max_line_length, b"\n")
        return buffer.getvalue().decode("ascii")

    @_payload.setter
    def _payload(self, value) -> None:
        self.content = None
        self._text = value

    def is_multipart(self) -> bool:
        # The email package's reads ``_payload``: here that would encode the bytes.
        return self.content is None and super().is_multipart()


def write_base64(out: io.BytesIO, data: bytes, max_line_length: int, linesep: bytes) -> None:
    """``data`` in base64 lines, each ended by ``linesep``, as the email package encodes an
    attachment (contentmanager's ``_encode_base64``: ``max_line_length // 4 * 3`` bytes a
    line), a chunk of lines at a time."""
    per_line = max_line_length // 4 * 3
    width = per_line // 3 * 4
    view = memoryview(data)
    for start in range(0, len(view), per_line * LINES_PER_CHUNK):
        text = binascii.b2a_base64(view[start : start + per_line * LINES_PER_CHUNK], newline=False)
        out.write(linesep.join([text[i : i + width] for i in range(0, len(text), width)]))
        out.write(linesep)


def flatten(message: EmailMessage) -> bytes | None:
    """``message.as_bytes()`` as the email package writes it, with a boundary chosen and set
    for each multipart that has none; None when a part is of a kind this writer leaves to
    the email package (a preamble, a message/* part, a payload with raw 8-bit bytes)."""
    if not all(map(_writable, message.walk())):
        return None
    _choose_boundaries(message)
    policy = message.policy
    out = io.BytesIO()
    _write(out, message, policy, policy.linesep.encode("ascii"))
    return out.getvalue()  # the buffer itself, not a copy: BytesIO hands it over


def _writable(part: EmailMessage) -> bool:
    maintype = part.get_content_maintype()
    if part.is_multipart():
        return (
            maintype == "multipart"
            and part.get_content_subtype() != "signed"
            and part.preamble is None
            and part.epilogue is None
        )
    if isinstance(part, Base64Part) and part.content is not None:
        return True
    payload = part.get_payload()
    return maintype not in ("multipart", "message") and (payload is None or payload.isascii())


def _choose_boundaries(message: EmailMessage) -> None:
    """A boundary for each multipart without one, on no line of the texts it encloses (the
    generator's rule; base64 lines cannot hold one: ``-`` is not in its alphabet)."""
    texts = [
        part.get_payload()
        for part in message.walk()
        if not part.is_multipart() and not isinstance(part, Base64Part) and part.get_payload()
    ]
    for part in message.walk():
        if part.is_multipart():
            boundary = part.get_boundary()
            if boundary is None:
                boundary = _new_boundary("\n".join(texts))
                part.set_boundary(boundary)
            texts.append(f"--{boundary}--")


def _new_boundary(text: str) -> str:
    """As ``email.generator.Generator._make_boundary`` makes one."""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
    candidate, counter = boundary, 0
    while re.search("^--" + re.escape(candidate) + "(--)?$", text, re.MULTILINE):
        candidate, counter = f"{boundary}.{counter}", counter + 1
    return candidate


def _write(out: io.BytesIO, part: EmailMessage, policy, linesep: bytes) -> None:
    for name, value in part.raw_items():
        out.write(_folded(policy, name, value, linesep))
    out.write(linesep)
    if part.is_multipart():
        dash = b"--" + part.get_boundary().encode("ascii")
        out.write(dash + linesep)
        for index, subpart in enumerate(part.get_payload()):
            if index:
                out.write(linesep + dash + linesep)
            _write(out, subpart, policy, linesep)
        out.write(linesep + dash + b"--" + linesep)
    elif isinstance(part, Base64Part) and part.content is not None:
        write_base64(out, part.content, policy.max_line_length, linesep)
    elif part.get_payload():
        # Every line end becomes linesep; a last line without one stays without.
        out.write(_LINE_END.sub(linesep, part.get_payload().encode("ascii")))
