"""What the service logs, and what it keeps out of production logs."""

import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given
from hypothesis import strategies as st

from dinky_falcon.log_writer import info
from dinky_falcon.logs import OneLinePerEvent, configure_logging, written_by_one_thread


def test_waitress_queue_depth_warnings_are_kept_for_debug_logs_only(make_settings):
    queue = logging.getLogger("waitress.queue")
    try:
        configure_logging(
            make_settings(ENVIRONMENT="production", ALLOWED_RECIPIENTS="@example.org")
        )
        assert not queue.isEnabledFor(logging.WARNING)
        assert queue.isEnabledFor(logging.ERROR)
        configure_logging(make_settings(LOG_LEVEL="debug"))
        assert queue.isEnabledFor(logging.WARNING)
    finally:
        queue.setLevel(logging.NOTSET)


class _StuckStream(io.StringIO):
    """A stream whose writes wait until ``opened`` is set (a stuck disk), and that remembers
    which threads wrote."""

    def __init__(self):
        super().__init__()
        self.threads = set()
        self.opened = threading.Event()

    def write(self, text):
        self.opened.wait(10)
        self.threads.add(threading.get_ident())
        return super().write(text)


def test_while_serving_a_thread_of_its_own_writes_the_log_and_nothing_is_lost(monkeypatch):
    root = logging.getLogger()
    stream = _StuckStream()
    handler = logging.StreamHandler(stream)
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setattr(root, "level", logging.INFO)
    log = logging.getLogger("dinky_falcon.test")

    def log_many(worker):
        for n in range(250):
            log.info("worker %d line %d", worker, n)
        return threading.get_ident()

    with written_by_one_thread(delay=0.01):
        with ThreadPoolExecutor(8) as pool:
            # Every worker logs all its lines and goes on while nothing can be written.
            workers = set(pool.map(log_many, range(8)))
        stream.opened.set()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 250
    assert [l for l in lines if l.startswith("worker 3 ")] == [
        f"worker 3 line {n}" for n in range(250)
    ]
    (writer,) = stream.threads
    assert writer not in workers | {threading.get_ident()}
    assert root.handlers == [handler]  # as before serving


def test_a_line_logged_while_the_writer_closes_is_written_after_the_ones_before_it(monkeypatch):
    """A worker thread still finishing its request as serving ends: its line is neither lost
    (the writer taken away before it closed, the original not yet back) nor written before
    the lines it follows."""
    root = logging.getLogger()
    stream = _StuckStream()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream)])
    monkeypatch.setattr(root, "level", logging.INFO)
    log = logging.getLogger("dinky_falcon.test")
    serving = threading.Event()
    writers = []

    def serve_and_stop():
        with written_by_one_thread(delay=0.01):
            writers.extend(root.handlers)
            info(log, "last request")
            serving.set()
        info(log, "stopped")

    stopping = threading.Thread(target=serve_and_stop, daemon=True)
    stopping.start()
    assert serving.wait(5)
    (writer,) = writers
    deadline = time.monotonic() + 5
    while not writer.closing:  # closing, stuck writing "last request"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    info(log, "finishing")
    stream.opened.set()
    stopping.join(5)
    assert stream.getvalue() == "last request\nfinishing\nstopped\n"


def test_while_serving_lines_are_written_within_the_delay(monkeypatch):
    root = logging.getLogger()
    stream = io.StringIO()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream)])
    monkeypatch.setattr(root, "level", logging.INFO)
    with written_by_one_thread(delay=0.05):
        logging.getLogger("dinky_falcon.test").info("listening")
        deadline = time.monotonic() + 5
        while "listening" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stream.getvalue() == "listening\n"  # not only when serving ends


def _pause_after_expired_waits(monkeypatch, thread_name: str, paused: threading.Event) -> None:
    """Whenever the thread ``thread_name`` comes back from a timed wait that expired, it
    pauses 0.2 s (what preemption does on a loaded machine), after saying so in ``paused``.
    Covers waits on a Condition and on an Event (whose wait is a Condition's inside)."""
    inside_event_wait = threading.local()
    condition_wait, event_wait = threading.Condition.wait, threading.Event.wait

    def pause_if_expired(timeout, result):
        if timeout is not None and not result and threading.current_thread().name == thread_name:
            paused.set()
            time.sleep(0.2)

    def paused_condition_wait(self, timeout=None):
        result = condition_wait(self, timeout)
        if not getattr(inside_event_wait, "on", False):
            pause_if_expired(timeout, result)
        return result

    def paused_event_wait(self, timeout=None):
        inside_event_wait.on = True
        try:
            result = event_wait(self, timeout)
        finally:
            inside_event_wait.on = False
        pause_if_expired(timeout, result)
        return result

    monkeypatch.setattr(threading.Condition, "wait", paused_condition_wait)
    monkeypatch.setattr(threading.Event, "wait", paused_event_wait)


def test_closing_while_the_writer_comes_back_from_a_timed_wait_never_hangs(monkeypatch):
    """The lost wake-up: close() called just after the writer's gathering wait expired, before
    it waits again. Forced every time by pausing the writer at exactly that point."""
    root = logging.getLogger()
    stream = io.StringIO()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream)])
    monkeypatch.setattr(root, "level", logging.INFO)
    paused = threading.Event()
    _pause_after_expired_waits(monkeypatch, "dinky-falcon-log", paused)

    def serve_and_stop():
        with written_by_one_thread(delay=0.05):
            logging.getLogger("dinky_falcon.test").info("last request")
            assert paused.wait(5)  # the writer's gathering wait has just expired: stop now
        logging.getLogger("dinky_falcon.test").info("stopped")

    stopping = threading.Thread(target=serve_and_stop, daemon=True)
    stopping.start()
    stopping.join(5)
    assert not stopping.is_alive(), "close() hung waiting for the log writer"
    assert stream.getvalue() == "last request\nstopped\n"


# Any second from 2001 to 2100, at any fraction of it.
INSTANTS = st.floats(min_value=1e9, max_value=4.1e9, allow_nan=False)


@given(st.lists(INSTANTS, min_size=1, max_size=20))
def test_the_time_on_each_line_is_what_logging_itself_writes_whatever_the_order(instants):
    """The date and time are written once a second and reused: never for another second."""
    ours, theirs = OneLinePerEvent("%(asctime)s %(message)s"), logging.Formatter("%(asctime)s")
    for created in instants:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "line", (), None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(record) == f"{theirs.format(record)} line"


def test_while_serving_records_skip_the_callers_frame_and_serving_gives_it_back(monkeypatch):
    """Finding the caller walks the stack for every record, and no line shows it."""
    root = logging.getLogger()
    stream = io.StringIO()
    records = []
    keeper = logging.Handler()
    keeper.emit = records.append
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stream), keeper])
    monkeypatch.setattr(root, "level", logging.INFO)
    log = logging.getLogger("dinky_falcon.test")
    with written_by_one_thread(delay=0.01):
        log.info("while serving")
    log.info("after")
    serving, after = records
    assert (serving.lineno, serving.threadName, serving.process) == (0, None, None)
    assert (after.funcName, after.threadName) == (
        "test_while_serving_records_skip_the_callers_frame_and_serving_gives_it_back",
        threading.current_thread().name,
    )
    assert stream.getvalue() == "while serving\nafter\n"
