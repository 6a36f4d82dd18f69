"""Logging set-up shared by ``dinky-mail serve`` and ``get_app()``."""

import contextlib
import logging
import queue
from collections.abc import Iterator
from logging.handlers import QueueHandler, QueueListener

from .settings import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # waitress warns "Task queue depth is N" for every request that waits for a free worker
    # thread: under load, one line per request, saying what the access log's times show.
    queue = logging.getLogger("waitress.queue")
    queue.setLevel(logging.NOTSET if settings.log_level == "DEBUG" else logging.ERROR)
    for warning in settings.warnings:
        logging.getLogger("dinky_falcon.settings").warning("%s", warning)


@contextlib.contextmanager
def written_by_one_thread() -> Iterator[None]:
    """While serving: records go into a queue, and one thread of their own writes them.

    A handler writes under its lock, and the write releases the GIL: with every worker
    thread logging a request, the others wait on that lock and on the GIL in turn. Measured
    with 32 connections and no transport, that halved throughput (bench/RESULTS.md). The
    logging cookbook's answer is this queue; leaving, every queued record is written.
    """
    root = logging.getLogger()
    handlers = root.handlers[:]
    records: queue.SimpleQueue = queue.SimpleQueue()
    queued = QueueHandler(records)
    listener = QueueListener(records, *handlers, respect_handler_level=True)
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(queued)
    listener.start()
    try:
        yield
    finally:
        root.removeHandler(queued)
        listener.stop()  # after the records queued so far are written
        for handler in handlers:
            root.addHandler(handler)
