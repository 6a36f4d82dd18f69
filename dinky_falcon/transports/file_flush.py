"""The file sink's outbox made durable in the background: one sync of its filesystem, at most
FLUSH_INTERVAL after a message was written, instead of fsyncs on every request.

Two fsyncs per message (each file's content, then the directory) were half of what the sink
cost a request; one sync per interval covers every message written in it.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

# What a power loss can lose: the messages written in the last FLUSH_INTERVAL, plus the time
# the disk takes to write them. A crash of the service loses nothing (the page cache has them).
FLUSH_INTERVAL = 0.2

log = logging.getLogger(__name__)


class Flusher:
    """Syncs the filesystem holding ``directory`` at most ``interval`` after ``written()``,
    from a thread of its own; ``close()`` syncs what is left before it returns.

    A failed sync is logged once and kept in ``error`` until a later one succeeds (it is
    retried every interval): meanwhile the transport refuses new messages, which it could not
    promise to keep."""

    def __init__(self, directory: Path, interval: float = FLUSH_INTERVAL):
        self.directory = directory
        self.interval = interval
        self.error: OSError | None = None
        # One descriptor for the Flusher's life: syncfs reports a failed write-back only to a
        # descriptor opened before it failed (the kernel samples the error state at open),
        # so a descriptor opened for each sync could miss the failure of the interval before.
        self._descriptor: int | None = _open_directory(directory)
        self._descriptor_lock = threading.Lock()
        self._pending = threading.Event()  # something was written since the last sync began
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-flush", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """A message's files are in place: they will be synced within the interval."""
        if self._closing.is_set():  # closed: nothing would sync them later
            self.flush()
        else:
            self._pending.set()

    def _run(self) -> None:
        # close() sets _closing, then _pending: whichever wait this thread is in, it ends.
        while not self._closing.is_set():
            self._pending.wait()
            # The interval's messages, gathered into one sync; close() syncs last, itself.
            if self._closing.wait(self.interval):
                return
            self._pending.clear()  # before the sync: what is written from now on sets it again
            self.flush()

    def flush(self) -> None:
        """Syncs now: what was written before this call is on disk when it returns."""
        try:
            with self._descriptor_lock:
                if self._descriptor is not None:
                    _sync_filesystem()(self._descriptor)
                else:  # after close(): a message sent late is synced before it is answered
                    descriptor = _open_directory(self.directory)
                    try:
                        _sync_filesystem()(descriptor)
                    finally:
                        os.close(descriptor)
        except OSError as exc:
            if self.error is None:
                log.error(
                    "the outbox %s could not be synced to disk (%s): the messages written in "
                    "the last %g s may be lost if the machine stops; new ones are refused "
                    "until a sync succeeds",
                    self.directory,
                    exc.strerror,
                    self.interval,
                )
            self.error = exc
            self._pending.set()  # tried again after the interval
        else:
            if self.error is not None:
                log.warning("the outbox %s syncs to disk again", self.directory)
            self.error = None

    def close(self) -> None:
        """Stops the thread, then syncs what is left; raises the OSError if that failed."""
        self._closing.set()
        self._pending.set()
        self._thread.join()
        self.flush()
        with self._descriptor_lock:
            descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)
        if self.error is not None:
            raise self.error


def _open_directory(directory: Path) -> int:
    return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@functools.cache
def _sync_filesystem() -> Callable[[int], None]:
    """syncfs(2): the dirty data and metadata of the one filesystem the descriptor is on, and
    (Linux 5.8+) the error of a write-back that failed. Where the C library has none (macOS),
    os.sync, which syncs every filesystem and reports nothing."""
    import ctypes  # here, not at import: only the file sink needs it

    libc = ctypes.CDLL(None, use_errno=True)
    syncfs = getattr(libc, "syncfs", None)
    if syncfs is None:
        return lambda descriptor: os.sync()

    def sync(descriptor: int) -> None:
        if syncfs(descriptor) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    return sync
