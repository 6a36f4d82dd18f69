"""The one-thread writer's handler (``Batched``, which logs.written_by_one_thread puts in
place of each stream handler while serving) and ``info``, which hands it a line without a
LogRecord."""

import logging
import threading
from collections.abc import Mapping

from .log_lines import has_line, now

INFO = logging.INFO


def info(logger: logging.Logger, msg: str, *args, fields: dict | None = None) -> None:
    """``logger.info(msg, *args, extra={"fields": fields})``: the same line, and without a
    LogRecord when no one but the service's writer (written_by_one_thread) would see one.

    A record, its trip through the loggers and handlers and its formatting were a fifth of
    the floor's CPU (cProfile, bench/cpu_profile.py discard), for two lines per request.
    When the logger is on for INFO, has no filter, records are logging's own (no
    setLogRecordFactory), and the one handler it reaches is the writer (no filter, with
    configure_logging's formatter), the line is formatted here and joins the writer's
    batch. A handler, a filter, a level, a record factory or a formatter from the
    operator's logging config, or pytest's caplog, gets the record as before."""
    writer = _sole_writer(logger)
    if writer is not None:
        try:
            levelname = logging.getLevelName(INFO)
            line = writer.line(now(), levelname, logger.name, _message(msg, args), fields)
        except Exception:  # noqa: BLE001 - the record's way reports it, as before
            pass
        else:
            writer.add(line)
            return
    logger.info(msg, *args, extra=None if fields is None else {"fields": fields})


def _message(msg, args: tuple) -> str:
    """What LogRecord.getMessage makes of ``msg`` and ``args``."""
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        args = args[0]  # logging.info("%(a)s", {"a": 1})
    return str(msg) % args if args else str(msg)


def _sole_writer(logger: logging.Logger) -> "Batched | None":
    """The writer that alone would handle ``logger``'s INFO record, as it would; else None."""
    if (
        logger.disabled
        or logger.filters
        or logging.getLogRecordFactory() is not logging.LogRecord  # the operator's records
        or not logger.isEnabledFor(INFO)
    ):
        return None
    found = None
    node = logger
    while node:
        for handler in node.handlers:
            if (
                found is not None
                or type(handler) is not Batched
                or handler.filters
                or handler.level > INFO
                or handler.line is None
            ):
                return None
            found = handler
        node = node.parent if node.propagate else None
    return found


class Batched(logging.Handler):
    """A StreamHandler's lines, gathered under the lock and written by a thread of its own.

    One condition on the handler's lock guards both the lines and ``closing``: the writer
    checks them only while holding it, so ``close()`` can never slip in between a wait that
    timed out and the writer's next wait (the lost wake-up of two separate events).
    """

    def __init__(self, target: logging.StreamHandler, delay: float):
        super().__init__(target.level)
        self.setFormatter(target.formatter)
        self.stream = target.stream
        self.delay = delay
        self.lines: list[str] = []
        self.closing = False
        self.written_all = False  # the last batch has been written: add writes at once
        self.changed = threading.Condition(self.lock)
        self.writer = threading.Thread(
            target=self._write_batches, name="dinky-falcon-log", daemon=True
        )
        self.writer.start()

    @property
    def formatter(self) -> logging.Formatter | None:
        return self._formatter

    @formatter.setter
    def formatter(self, formatter: logging.Formatter | None) -> None:
        """Also sets ``line``: the formatter's ``line`` when it writes what its ``format``
        writes for an INFO record without a traceback (log_lines.has_line), else None."""
        self._formatter = formatter
        self.line = formatter.line if has_line(formatter) else None

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)
            return
        self.add(line)

    def add(self, line: str) -> None:
        """One formatted line (no newline) to write."""
        with self.lock:  # an RLock: emit holds it already
            self.lines.append(line + "\n")
            if self.written_all:  # closed: a straggler is written at once, not lost
                self._write()
            elif len(self.lines) == 1:  # the first line of a batch wakes the writer
                self.changed.notify()

    def _write_batches(self) -> None:
        while self._gather():
            self._write()
        self._write()  # the last batch, by this thread too

    def _gather(self) -> bool:
        """Waits for a batch's first line, then up to ``delay`` for the lines that join it;
        False once closing."""
        with self.lock:
            self.changed.wait_for(lambda: self.lines or self.closing)
            self.changed.wait_for(lambda: self.closing, self.delay)
            return not self.closing

    def _write(self) -> None:
        with self.lock:
            lines, self.lines = self.lines, []
        if lines:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except Exception:  # noqa: BLE001
                self.handleError(logging.makeLogRecord({"msg": lines[-1].rstrip()}))

    def close(self) -> None:
        with self.lock:
            self.closing = True
            self.changed.notify_all()
        self.writer.join()  # after its last batch
        with self.lock:  # a line from a thread that was still logging through this handler
            self.written_all = True
            self._write()
        super().close()
