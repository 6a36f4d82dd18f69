"""``file``: each message becomes a ``.eml`` file in OUTBOX_DIR (the development sink).

Beside it, ``<same name>.envelope.json`` records the SMTP envelope: who would have received
the message, bcc included, which no header of the ``.eml`` shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError, TransportError
from ..hookspecs import hookimpl
from ..mail.message import message_id
from .file_flush import Flusher

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._@-]")


class FileTransport:
    """Writes each message's envelope, then its ``.eml`` (renamed into place whole), and leaves
    making them durable to a Flusher: a 200 means both files are in the page cache, safe from a
    crash of the service; a power loss can lose the last FLUSH_INTERVAL's messages."""

    def __init__(self, settings):
        self.directory = Path(settings.outbox_dir).resolve()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.directory):
                pass
        except OSError as exc:
            raise ConfigError(
                f"OUTBOX_DIR={str(settings.outbox_dir)!r} cannot be written: {exc.strerror}"
            ) from None
        self.flusher = Flusher(self.directory)

    def send(self, message, envelope) -> Path:
        self._refuse_if_unsynced()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        id_ = message_id(message)
        name = f"{self.directory}/{stamp}-{_UNSAFE_IN_NAME.sub('_', id_.strip('<>'))}"
        sidecar = {
            "message_id": id_,
            "sender": envelope.sender,
            "recipients": list(envelope.recipients),
            "smtputf8": envelope.smtputf8,
            "tags": list(envelope.tags),
        }
        try:
            # json's C encoder, which indent= would replace by the pure-Python one (3x slower).
            _write_pair(
                f"{name}.envelope.json",
                json.dumps(sidecar, ensure_ascii=False).encode() + b"\n",
                f"{name}.eml",
                message.as_bytes(),
            )
        except OSError as exc:
            raise TransportError(
                f"the outbox directory could not be written: {exc.strerror}", temporary=True
            ) from exc
        self.flusher.written()
        return Path(f"{name}.eml")

    def _refuse_if_unsynced(self) -> None:
        if self.flusher.error is not None:
            raise TransportError(
                f"the outbox directory could not be synced to disk: {self.flusher.error.strerror}",
                temporary=True,
            )

    def check(self):
        if not os.access(self.directory, os.W_OK):
            raise TransportError(f"{self.directory} is not writable", temporary=True)
        self._refuse_if_unsynced()

    def close(self):
        """Syncs every message written so far; a sync that failed is raised, not swallowed."""
        try:
            self.flusher.close()
        except OSError as exc:
            raise TransportError(
                f"the outbox directory could not be synced to disk: {exc.strerror}", temporary=True
            ) from exc


def _write_pair(envelope_path: str, envelope: bytes, eml_path: str, eml: bytes) -> None:
    """The envelope under its own name, then the .eml to a temporary name and renamed: whoever
    sees the .eml (the outbox page) finds it whole and its envelope already there. Seven system
    calls, where a temporary file for each and fsyncs took thirteen: under load each one hands
    the GIL to another thread and back. On failure neither file is left behind."""
    temporary = f"{os.path.dirname(eml_path)}/.{os.path.basename(eml_path)}.tmp"
    _write_new(envelope_path, envelope)
    try:
        _write_new(temporary, eml)
        try:
            os.replace(temporary, eml_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(envelope_path)
        raise


def _write_new(path: str, data: bytes) -> None:
    """A new file (0600, not one that exists: the names are unique) holding ``data``; none left
    on failure."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:  # one write, unless the disk is nearly full
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


@hookimpl(trylast=True)
def register_transports(register):
    register("file", FileTransport)
