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

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._@-]")


class FileTransport:
    """Writes atomically: each file to a temporary file in the same directory and fsynced,
    then both renamed (the envelope first), then the directory fsynced once for both."""

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

    def send(self, message, envelope) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        id_ = message_id(message)
        target = self.directory / f"{stamp}-{_UNSAFE_IN_NAME.sub('_', id_.strip('<>'))}.eml"
        sidecar = {
            "message_id": id_,
            "sender": envelope.sender,
            "recipients": list(envelope.recipients),
            "smtputf8": envelope.smtputf8,
            "tags": list(envelope.tags),
        }
        try:
            # The sidecar first: whoever sees the .eml finds its envelope already there.
            self._write_atomically(
                (
                    target.with_suffix(".envelope.json"),
                    json.dumps(sidecar, ensure_ascii=False, indent=2).encode() + b"\n",
                ),
                (target, message.as_bytes()),
            )
        except OSError as exc:
            raise TransportError(
                f"the outbox directory could not be written: {exc.strerror}", temporary=True
            ) from exc
        return target

    def _write_atomically(self, *files: tuple[Path, bytes]) -> None:
        """Each file's bytes to a temporary file, fsynced; then the renames, in the given
        order; then one fsync of the directory, which makes all the renames durable.

        Nothing is renamed before every file's content is on disk, so a failure while
        writing leaves no file behind (and no temporary file). The renames are one
        directory's metadata, which a journalling filesystem (ext4, XFS) writes in order:
        after a crash before the directory's fsync, the .eml is there only if its envelope is.

        Only the system calls this needs, thirteen per message: under load every one of
        them hands the GIL to another thread and back, and Python's file objects and
        tempfile would add as many again (fstat, ioctl, lseek, random names).
        """
        temporaries: list[str] = []
        renamed = 0
        try:
            for target, data in files:
                # The target's name is unique (time and Message-ID); O_EXCL makes sure.
                temporary = f"{target.parent}/.{target.name}.tmp"
                _write_durably(temporary, data)
                temporaries.append(temporary)
            for (target, _), temporary in zip(files, temporaries, strict=True):
                os.replace(temporary, target)
                renamed += 1
        except BaseException:
            for temporary in temporaries[renamed:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
            raise
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def check(self):
        if not os.access(self.directory, os.W_OK):
            raise TransportError(f"{self.directory} is not writable", temporary=True)

    def close(self):
        pass


def _write_durably(path: str, data: bytes) -> None:
    """A new file (0600, not one that exists) holding ``data``, fsynced; none left on failure."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:  # one write, unless the disk is nearly full
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


@hookimpl(trylast=True)
def register_transports(register):
    register("file", FileTransport)
