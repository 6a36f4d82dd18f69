"""The development outbox, read back: the ``.eml`` files the file transport wrote in OUTBOX_DIR
and their ``.envelope.json``, as summaries, parsed messages and raw bytes.

A message's id is its file name without ``.eml``. An id is only ever looked up among the
names the directory holds, so no id can name a file outside it, nor another kind of file;
and only regular files are read, never through a symbolic link, so a link placed in the
directory cannot show a file from elsewhere (nor a directory named ``x.eml`` answer 500).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

LIST_LIMIT = 500  # the newest this many are listed; older ones stay on disk
MAX_ENVELOPE_BYTES = 1 << 20  # an envelope the file transport writes is a few hundred bytes
SUFFIX = ".eml"
ENVELOPE_SUFFIX = ".envelope.json"
_SURROGATE = re.compile("[\ud800-\udfff]")


class NotInOutbox(LookupError):
    """No such message in the outbox: 404."""


def _header(message: EmailMessage, name: str) -> str:
    return _header_value(message.get(name, ""))


class Outbox:
    def __init__(self, directory: Path):
        self.directory = Path(directory).resolve()
        # id -> summary: a message's file never changes once written (the file transport
        # renames it into place), so the page's polling parses each message once.
        self._summaries: dict[str, dict] = {}

    def ids(self) -> list[str]:
        """Every message's id, newest first (names start with the UTC time of the send)."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        return sorted(
            (
                e.name[: -len(SUFFIX)]
                for e in entries
                if e.name.endswith(SUFFIX)
                and not e.name.startswith(".")
                and e.is_file(follow_symlinks=False)
            ),
            reverse=True,
        )

    def path(self, id_: str) -> Path:
        """The ``.eml`` of ``id_``, found among the directory's own names, or NotInOutbox."""
        if not id_ or id_ not in self.ids():
            raise NotInOutbox(id_)
        return self.directory / f"{id_}{SUFFIX}"

    def raw(self, id_: str) -> bytes:
        data = _read_regular_file(self.path(id_))
        if data is None:  # deleted meanwhile, or replaced by a link or a directory
            raise NotInOutbox(id_)
        return data

    def parsed(self, id_: str) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw(id_))

    def envelope(self, id_: str) -> dict:
        """The SMTP envelope recorded beside the message (bcc included): ``sender`` and
        ``recipients`` as the file transport writes them, or {} if none or not in that shape."""
        data = _read_regular_file(self.directory / f"{id_}{ENVELOPE_SUFFIX}", MAX_ENVELOPE_BYTES)
        try:
            envelope = json.loads(data) if data else None
        except (ValueError, RecursionError):  # not JSON, or nested beyond what json can read
            return {}
        if not isinstance(envelope, dict):
            return {}
        sender, recipients = envelope.get("sender"), envelope.get("recipients")
        if not isinstance(sender, str) or not isinstance(recipients, list):
            return {}
        if not all(isinstance(r, str) for r in recipients):
            return {}
        return {"sender": sender, "recipients": recipients}

    def summaries(self) -> tuple[list[dict], int]:
        """The newest LIST_LIMIT messages' summaries, and how many there are in all."""
        ids = self.ids()
        known, listed = self._summaries, []
        for id_ in ids[:LIST_LIMIT]:
            if id_ not in known:
                with contextlib.suppress(NotInOutbox):
                    known[id_] = self.summary(id_, self.parsed(id_))
            if id_ in known:
                listed.append(known[id_])
        self._summaries = {m["id"]: m for m in listed}  # forgets deleted ones
        return listed, len(ids)

    def summary(self, id_: str, message: EmailMessage) -> dict:
        return {
            "id": id_,
            "message_id": _header(message, "Message-ID"),
            "subject": _header(message, "Subject"),
            "from": _header(message, "From"),
            "to": _header(message, "To"),
            "date": _header(message, "Date"),
            "size": self._size(id_),
            "attachments": len(attachments(message)),
        }

    def _size(self, id_: str) -> int:
        with contextlib.suppress(OSError):
            return (self.directory / f"{id_}{SUFFIX}").stat().st_size
        return 0

    def details(self, id_: str) -> dict:
        """Everything the message page and ``GET /outbox/messages/{id}`` show."""
        message = self.parsed(id_)
        return {
            **self.summary(id_, message),
            "headers": [[name, _header_value(value)] for name, value in message.raw_items()],
            "text": _body(message, "plain"),
            "html": _body(message, "html"),
            "attachments": [
                {
                    "index": i,
                    "filename": _header_value(part.get_filename() or f"attachment-{i}"),
                    "content_type": part.get_content_type(),
                    "size": len(_payload(part)),
                }
                for i, part in enumerate(attachments(message))
            ],
            "envelope": self.envelope(id_),
        }

    def attachment(self, id_: str, index: int) -> tuple[str, bytes]:
        """(file name to download it as, bytes) of the message's attachment number ``index``."""
        parts = attachments(self.parsed(id_))
        if not 0 <= index < len(parts):
            raise NotInOutbox(f"{id_} attachment {index}")
        part = parts[index]
        return download_name(part.get_filename() or f"attachment-{index}"), _payload(part)

    def clear(self) -> int:
        """Delete every message and its envelope; how many messages were deleted."""
        deleted = 0
        for id_ in self.ids():
            for suffix in (ENVELOPE_SUFFIX, SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"{id_}{suffix}").unlink()
            deleted += 1
        return deleted


def download_name(filename: str) -> str:
    """An attachment's name as Content-Disposition can carry it. The sender chose it: its
    quotes, backslashes and control characters (CR, LF, NUL) become ``_``, so that it can
    neither end the header nor close the quoted name and add a parameter of its own."""
    name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in filename)
    return name[:255]


def _read_regular_file(path: Path, limit: int = -1) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (not followed if it is a link) of at most
    ``limit`` bytes, or None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # absent, a link (ELOOP), unreadable
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # a directory, a FIFO, a device
            return None
        with os.fdopen(os.dup(descriptor), "rb") as file:
            data = file.read(limit + 1 if limit >= 0 else -1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return data if limit < 0 or len(data) <= limit else None


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments()) if message.is_multipart() else []


def _payload(part: EmailMessage) -> bytes:
    return part.get_payload(decode=True) or b""


def _header_value(value) -> str:
    """A header as text a page or JSON can carry. The parser keeps 8-bit bytes it could not
    decode as lone surrogates, which no UTF-8 answer can hold: they are shown as U+FFFD."""
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a header the parser cannot read is shown as absent
        return ""
    return _SURROGATE.sub("\ufffd", text)


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: the bytes, as well as they decode
        content = _payload(part).decode("utf-8", "replace")
    return content.replace("\r\n", "\n")  # the .eml's line ends are SMTP's
