"""How a log event is written: one line of text (LOG_FORMAT=text) or one JSON object (json),
from a LogRecord (``format``) or, for the one-thread writer's INFO lines, without one (``line``)."""

import json
import logging
import sys
import time
from datetime import UTC, datetime

# What configure_logging writes for LOG_FORMAT=text.
LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
        if datefmt:
            return super().formatTime(record, datefmt)
        return self._asctime(record.created, record.msecs)

    def _asctime(self, created: float, msecs: float) -> str:
        """logging's own text, with the date and time written once a second, not per line."""
        second = int(created)
        stamp = self._stamp  # one tuple: another thread may be replacing it
        if stamp[0] != second:
            stamp = second, time.strftime(self.default_time_format, self.converter(second))
            self._stamp = stamp
        return self.default_msec_format % (stamp[1], msecs)

    def line(self, instant: tuple, levelname: str, name: str, message: str, fields) -> str:
        """What ``format`` writes, with LINE, for a record without a traceback made at
        ``instant`` (its ``created`` and ``msecs``)."""
        return printable(f"{self._asctime(*instant)} {levelname} {name}: {message}")

    def formatException(self, ei) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


class JsonLines(logging.Formatter):
    """LOG_FORMAT=json: each event is one JSON object on one line (for Loki, journald, docker's
    log drivers): time, level, logger, message, a message's fields (message_log.py) as keys,
    and the traceback, if any, as ``exception``. JSON escapes every line break."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "fields", None),
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _json(entry)

    def line(self, instant: tuple, levelname: str, name: str, message: str, fields) -> str:
        """What ``format`` writes for a record without a traceback made at ``instant``."""
        return _json(_entry(instant[0], levelname, name, message, fields))


def _entry(created: float, levelname: str, name: str, message: str, fields: dict | None) -> dict:
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": levelname,
        "logger": name,
        "message": message,
        **(fields or {}),
    }


# json.dumps(entry, default=str) builds this encoder for every line.
_json = json.JSONEncoder(default=str).encode

if sys.version_info >= (3, 13):

    def now() -> tuple[float, float]:
        """A LogRecord's ``created`` and ``msecs`` for now, as the record computes them."""
        ns = time.time_ns()
        return ns / 1e9, (ns % 1_000_000_000) // 1_000_000 + 0.0

else:

    def now() -> tuple[float, float]:
        """A LogRecord's ``created`` and ``msecs`` for now, as the record computes them."""
        created = time.time()
        return created, int((created - int(created)) * 1000) + 0.0


def _indented(text: str) -> str:
    return "\n".join("  " + printable(line) for line in text.splitlines())


def has_line(formatter: logging.Formatter | None) -> bool:
    """Whether ``formatter.line(...)`` writes what its ``format`` writes for an INFO record
    without a traceback: configure_logging's formatters, as it sets them up."""
    if type(formatter) is JsonLines:
        return True
    return (
        type(formatter) is OneLinePerEvent
        and formatter._fmt == LINE
        and formatter.datefmt is None
        and type(formatter._style) is logging.PercentStyle
    )
