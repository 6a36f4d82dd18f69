"""Logging set-up shared by ``dinky-mail serve`` and ``get_app()``."""

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from .config.settings import Settings


def printable(text: str) -> str:
    """``text`` with every character that is not printable (CR, LF, escape sequences, line
    separators, ...) written as its Python escape: one line that shows what was there."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLinePerEvent(logging.Formatter):
    """A log event starts exactly one line: what a client wrote (a path, a header, an
    exception's text) cannot forge a line of its own. The message is written with
    ``printable``; a traceback follows on lines indented by two spaces, so only an event's
    first line starts at the left margin."""

    _stamp: tuple[int | None, str] = (None, "")  # a second and its date and time, written

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's own text, with the date and time written once a second, not per line."""
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        stamp = self._stamp  # one tuple: another thread may be replacing it
        if stamp[0] != second:
            stamp = second, time.strftime(self.default_time_format, self.converter(second))
            self._stamp = stamp
        return self.default_msec_format % (stamp[1], record.msecs)

    def formatException(self, ei) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


class JsonLines(logging.Formatter):
    """LOG_FORMAT=json: each event is one JSON object on one line (for Loki, journald, docker's
    log drivers): time, level, logger, message, a message's fields (message_log.py) as keys,
    and the traceback, if any, as ``exception``. JSON escapes every line break."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def _indented(text: str) -> str:
    return "\n".join("  " + printable(line) for line in text.splitlines())


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(OneLinePerEvent("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    # waitress warns "Task queue depth is N" for every request that waits for a free worker
    # thread: under load, one line per request, saying what the access log's times show.
    queue = logging.getLogger("waitress.queue")
    queue.setLevel(logging.NOTSET if settings.log_level == "DEBUG" else logging.ERROR)
    for warning in settings.warnings:
        logging.getLogger("dinky_falcon.settings").warning("%s", warning)


@contextlib.contextmanager
def written_by_one_thread(delay: float = 0.05) -> Iterator[None]:
    """While serving: each stream handler's lines are formatted by the thread that logs them
    and gathered in memory; a thread of their own writes what gathered, ``delay`` seconds
    at a time, in one write.

    A handler writes under its lock, and the write releases the GIL: with every worker
    thread logging a request, the others waited on that lock and on the GIL in turn, which
    with 32 connections halved throughput. Handing each record to a writer thread instead
    (the logging cookbook's QueueListener) woke that thread for every line, which cost as
    much through SMTP (bench/RESULTS.md). Leaving, everything gathered is written.
    """
    root = logging.getLogger()
    replaced = [h for h in root.handlers if type(h) is logging.StreamHandler]
    batched = [_Batched(handler, delay) for handler in replaced]
    for handler, batch in zip(replaced, batched, strict=True):
        root.removeHandler(handler)
        root.addHandler(batch)
    try:
        with _records_without_callers():
            yield
    finally:
        for handler, batch in zip(replaced, batched, strict=True):
            root.removeHandler(batch)
            batch.close()  # writes what is left
            root.addHandler(handler)


@contextlib.contextmanager
def _records_without_callers() -> Iterator[None]:
    """Log records without what no line of ours shows: the caller's file, line and function
    (found by walking the stack), the thread and the process. Two records per request, and
    these were a third of what logging cost (the logging HOWTO's "Optimization")."""
    names = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    saved = [getattr(logging, name) for name in names]
    for name in names:
        setattr(logging, name, None if name == "_srcfile" else False)
    try:
        yield
    finally:
        for name, value in zip(names, saved, strict=True):
            setattr(logging, name, value)


class _Batched(logging.Handler):
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
        self.changed = threading.Condition(self.lock)
        self.writer = threading.Thread(
            target=self._write_batches, name="dinky-falcon-log", daemon=True
        )
        self.writer.start()

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            self.lines.append(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)
            return
        if len(self.lines) == 1:  # the first line of a batch wakes the writer
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
        self._write()  # a line from a thread that was still logging through this handler
        super().close()
