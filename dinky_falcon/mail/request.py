"""A validated request to send mail: what the HTTP schemas, the forms and the CLI produce and
the message builder reads. Plain dataclasses: no web framework, no marshmallow."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from email.headerregistry import Address

from .addresses import has_unsafe_header_chars

MAX_FILE_NAME_LENGTH = 255
_PATH_SEPARATORS = re.compile(r"[/\\]")


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


def make_attachment(
    filename: str, content: bytes, content_type: str | None = None, content_id: str | None = None
) -> Attachment:
    """An attachment from a file name whose problems (``file_name_problems``) are none; the
    type is guessed from the name when not given."""
    filename = filename.strip()  # mail readers drop surrounding spaces
    if content_type is None:
        guessed, _ = mimetypes.guess_type(filename, strict=False)
        # A .eml guesses message/rfc822, which cannot travel as base64: send it as bytes.
        if guessed is None or guessed.startswith(("multipart/", "message/")):
            guessed = "application/octet-stream"
        content_type = guessed
    return Attachment(filename, content, content_type.lower(), content_id)


def file_name_problems(name: str) -> list[str]:
    """Why ``name`` cannot name an attachment (empty when it can): the API's and the forms' rule."""
    problems = []
    if not 1 <= len(name) <= MAX_FILE_NAME_LENGTH:
        problems.append(f"Length must be between 1 and {MAX_FILE_NAME_LENGTH}.")
    if has_unsafe_header_chars(name):
        problems.append("Must not contain line breaks or control characters.")
    elif not name.strip():
        problems.append("Must not be blank.")
    elif _PATH_SEPARATORS.search(name) or name.strip() in (".", ".."):
        problems.append("Must be a bare file name, without path separators.")
    return problems


def attachments_too_large(attachments, limit: int, what: str = "attachments") -> str | None:
    """Why the attachments' bytes together are over ``limit``, or None."""
    total = sum(len(attachment.content) for attachment in attachments)
    if total > limit:
        return f"{total} bytes of {what}; at most {limit} are allowed."
    return None
