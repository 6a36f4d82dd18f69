"""What the service logs, and what it keeps out of production logs."""

import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from dinky_falcon.logs import configure_logging, written_by_one_thread


def test_waitress_queue_depth_warnings_are_kept_for_debug_logs_only(make_settings):
    queue = logging.getLogger("waitress.queue")
    try:
        configure_logging(make_settings(ENVIRONMENT="production", ALLOWED_RECIPIENTS="@example.org"))
        assert not queue.isEnabledFor(logging.WARNING)
        assert queue.isEnabledFor(logging.ERROR)
        configure_logging(make_settings(LOG_LEVEL="debug"))
        assert queue.isEnabledFor(logging.WARNING)
    finally:
        queue.setLevel(logging.NOTSET)


class _Recording(logging.StreamHandler):
    """Writes to a string once ``opened`` is set (a stuck disk until then), and remembers
    which threads wrote."""

    def __init__(self):
        super().__init__(io.StringIO())
        self.threads = set()
        self.opened = threading.Event()

    def emit(self, record):
        self.opened.wait(10)
        self.threads.add(threading.get_ident())
        super().emit(record)


def test_while_serving_a_thread_of_its_own_writes_the_log_and_nothing_is_lost(monkeypatch):
    root = logging.getLogger()
    recording = _Recording()
    monkeypatch.setattr(root, "handlers", [recording])
    monkeypatch.setattr(root, "level", logging.INFO)
    log = logging.getLogger("dinky_falcon.test")

    def log_many(worker):
        for n in range(250):
            log.info("worker %d line %d", worker, n)
        return threading.get_ident()

    with written_by_one_thread():
        with ThreadPoolExecutor(8) as pool:
            # Every worker logs all its lines and goes on while nothing can be written.
            workers = set(pool.map(log_many, range(8)))
        recording.opened.set()
    lines = recording.stream.getvalue().splitlines()
    assert len(lines) == 8 * 250
    assert [l for l in lines if l.startswith("worker 3 ")] == [f"worker 3 line {n}" for n in range(250)]
    (writer,) = recording.threads
    assert writer not in workers | {threading.get_ident()}
    assert root.handlers == [recording]  # as before serving
