"""While serving, the access and message lines skip the LogRecord (log_writer.info): what they
write is, byte for byte, what the record would have written, and whatever the operator's
logging config puts in the way (a handler, a filter, a level, a formatter) still gets, drops
or changes the record as before."""

import io
import json
import logging
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dinky_falcon.log_lines import LINE, JsonLines, OneLinePerEvent, now
from dinky_falcon.log_writer import info
from dinky_falcon.logs import written_by_one_thread
from support.samples import SEED_REQUEST

# Any second from 2001 to 2100, at any fraction of it.
INSTANTS = st.floats(min_value=1e9, max_value=4.1e9, allow_nan=False)
# What a client or an upstream may put in a field: control characters, line separators, any
# script; numbers as the message line has them.
VALUES = st.one_of(st.text(), st.integers(), st.floats(), st.none())
FIELDS = st.none() | st.dictionaries(st.text(), VALUES, max_size=8)
FORMATTERS = {"text": lambda: OneLinePerEvent(LINE), "json": JsonLines}


@pytest.mark.parametrize("log_format", FORMATTERS)
@given(INSTANTS, st.text(min_size=1), st.text(), FIELDS)
def test_a_line_made_without_a_record_is_the_one_the_record_makes(
    log_format, created, name, message, fields
):
    formatter = FORMATTERS[log_format]()
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, (), None)
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
    if fields is not None:
        record.fields = fields
    instant = (record.created, record.msecs)
    assert formatter.line(instant, "INFO", name, message, fields) == formatter.format(record)


@given(INSTANTS)
def test_the_instant_of_a_line_is_what_a_log_record_takes_from_the_same_clock(instant):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: instant)
        patch.setattr(time, "time_ns", lambda: int(instant * 1e9))
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "line", (), None)
        assert now() == (record.created, record.msecs)


@pytest.fixture
def stopped_clock(monkeypatch):
    """Every line of the test at the same instant, so the two ways' lines can be compared."""
    monkeypatch.setattr(time, "time", lambda: 1764433223.801)
    monkeypatch.setattr(time, "time_ns", lambda: 1764433223_801000000)


def served(monkeypatch, log_format: str, configure, log) -> tuple[str, list[str], int]:
    """While serving, with ``configure(logger, parent, writer, other)`` applied to fresh loggers
    (``other`` a handler the test may attach), ``log(logger)``: what the stream and ``other``
    received, and how many LogRecords were made."""
    root = logging.getLogger()
    stream = io.StringIO()
    target = logging.StreamHandler(stream)
    target.setFormatter(FORMATTERS[log_format]())
    monkeypatch.setattr(root, "handlers", [target])
    monkeypatch.setattr(root, "level", logging.INFO)
    parent, logger = logging.Logger("dinky_falcon.served"), logging.Logger("dinky_falcon.served.x")
    parent.parent, logger.parent = root, parent  # fresh, as getLogger would link them
    other = logging.Handler()
    other.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(fields)s"))
    received = []
    other.emit = lambda record: received.append(other.format(record))
    records = counted_records(monkeypatch)
    try:
        with written_by_one_thread(delay=0.01):
            configure(logger, parent, root.handlers[0], other)
            log(logger)
    finally:
        logging.setLogRecordFactory(logging.LogRecord)
        logging.disable(logging.NOTSET)
    return stream.getvalue(), received, len(records)


def counted_records(monkeypatch) -> list:
    """Each LogRecord made from now on (the record factory left as it is: it is the
    operator's, and one of their own gets the record)."""
    records = []
    make = logging.LogRecord.__init__

    def counted(record, *args, **kwargs):
        records.append(args[0])
        make(record, *args, **kwargs)

    monkeypatch.setattr(logging.LogRecord, "__init__", counted)
    return records


def redacted(*args, **kwargs) -> logging.LogRecord:
    """A record factory of the operator's that edits each record's message."""
    record = logging.LogRecord(*args, **kwargs)
    record.msg, record.args = "redacted", ()
    return record


def as_before(logger, parent, writer, other):
    pass


CONFIGS = {
    "as configure_logging leaves it": as_before,
    "a handler on a parent": lambda logger, parent, writer, other: parent.addHandler(other),
    "a handler of its own, not propagating": lambda logger, parent, writer, other: (
        logger.addHandler(other),
        setattr(logger, "propagate", False),
    ),
    "a filter that drops": lambda logger, parent, writer, other: logger.addFilter(lambda r: 0),
    "a filter that edits": lambda logger, parent, writer, other: logger.addFilter(
        lambda record: setattr(record, "msg", "edited") or setattr(record, "args", ()) or True
    ),
    "a filter on the writer": lambda logger, parent, writer, other: writer.addFilter(
        lambda r: False
    ),
    "the logger at WARNING": lambda logger, parent, writer, other: logger.setLevel("WARNING"),
    "a parent at WARNING": lambda logger, parent, writer, other: parent.setLevel("WARNING"),
    "the writer at WARNING": lambda logger, parent, writer, other: writer.setLevel("WARNING"),
    "logging.disable": lambda logger, parent, writer, other: logging.disable(logging.INFO),
    "dictConfig's disable_existing_loggers": lambda logger, parent, writer, other: setattr(
        logger, "disabled", True
    ),
    "a record factory that edits": lambda logger, parent, writer, other: (
        logging.setLogRecordFactory(redacted)
    ),
    "another formatter on the writer": lambda logger, parent, writer, other: writer.setFormatter(
        logging.Formatter("%(levelname)s:%(name)s:%(message)s")
    ),
    "another date format": lambda logger, parent, writer, other: writer.setFormatter(
        OneLinePerEvent(LINE, datefmt="%H:%M")
    ),
}


@pytest.mark.parametrize("log_format", FORMATTERS)
@pytest.mark.parametrize("config", CONFIGS)
def test_the_operators_logging_config_gets_drops_or_changes_the_record_as_before(
    monkeypatch, stopped_clock, log_format, config
):
    line = "%s %s %s %.1fms%s", "POST", "/send\x1b[2J", "200", 1.25, " key=al\nice"
    fields = {"message_id": "<1@example.org>", "ms": 12.3, "queue_id": "Q\u2028"}

    def ours(logger):
        info(logger, *line, fields=fields)

    def stdlibs(logger):
        logger.info(*line, extra={"fields": fields})

    written, received, records = served(monkeypatch, log_format, CONFIGS[config], ours)
    assert (written, received) == served(monkeypatch, log_format, CONFIGS[config], stdlibs)[:2]
    if config == "as configure_logging leaves it":
        assert records == 0 and written.count("\n") == 1 and "\x1b" not in written
    if "drop" in config or "WARNING" in config or "disable" in config:
        assert written == ""


@given(
    st.text(),
    st.lists(st.text() | st.integers() | st.floats(), min_size=1, max_size=4),
    FIELDS,
)
def test_what_info_writes_while_serving_is_what_logger_info_writes(message, args, fields):
    msg = message.replace("%", "%%") + " %s" * len(args)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: 1764433223.801)
        patch.setattr(time, "time_ns", lambda: 1764433223_801000000)
        for log_format in FORMATTERS:
            written, _, records = served(
                patch, log_format, as_before, lambda logger: info(logger, msg, *args, fields=fields)
            )
            expected, _, _ = served(
                patch,
                log_format,
                as_before,
                lambda logger: logger.info(
                    msg, *args, extra={"fields": fields} if fields else None
                ),
            )
            assert (written, records) == (expected, 0)


def test_a_line_that_reaches_the_writer_after_it_closed_is_written_not_lost(monkeypatch):
    root = logging.getLogger()
    stream = io.StringIO()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream)])
    with written_by_one_thread(delay=0.01):
        (writer,) = root.handlers  # what a worker thread found before serving ended
    writer.handle(logging.makeLogRecord({"msg": "straggler"}))
    assert stream.getvalue() == "straggler\n"


def test_while_serving_a_sends_two_lines_make_no_log_record(make_client, monkeypatch):
    client, _ = make_client()
    root = logging.getLogger()
    stream = io.StringIO()
    target = logging.StreamHandler(stream)
    target.setFormatter(OneLinePerEvent(LINE))
    monkeypatch.setattr(root, "handlers", [target])
    monkeypatch.setattr(root, "level", logging.INFO)
    records = counted_records(monkeypatch)
    with written_by_one_thread(delay=0.01):
        answer = client.simulate_post("/send", json=SEED_REQUEST)
    assert answer.status_code == 200 and records == []
    message, access = stream.getvalue().splitlines()  # the access line when the answer is done
    assert " INFO dinky_falcon.access: POST /send 200 " in access
    assert f" INFO dinky_falcon.messages: message {answer.json['id']} transport=memory" in message


@given(st.text(), st.text())
def test_what_a_client_wrote_never_forges_a_line_or_a_json_key(path, key_label):
    """The access line's path and key label, any text at all (CR LF, U+2028, escape
    sequences, lone surrogates): one line in the log, and in JSON only the line's own keys."""
    access = "%s %s %s %.1fms%s", "GET", path, "404", 1.5, f" key={key_label}"
    with pytest.MonkeyPatch.context() as patch:
        for log_format in FORMATTERS:
            written, _, records = served(
                patch, log_format, as_before, lambda logger: info(logger, *access)
            )
            (line,) = written.splitlines()  # str.splitlines breaks at every line separator
            assert records == 0
            if log_format == "json":
                assert line.isascii()  # U+2028 and its kind escaped too
                entry = json.loads(line)
                assert list(entry) == ["time", "level", "logger", "message"]
                assert entry["message"] == access[0] % access[1:]
            else:
                assert line.isprintable()
