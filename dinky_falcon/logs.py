"""Logging set-up shared by ``dinky-mail serve`` and ``get_app()``."""

import contextlib
import logging
from collections.abc import Iterator

from .config.settings import Settings
from .log_lines import LINE, JsonLines, OneLinePerEvent
from .log_writer import Batched


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(OneLinePerEvent(LINE))
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
    batched = [Batched(handler, delay) for handler in replaced]
    for handler, batch in zip(replaced, batched, strict=True):
        _swap(root, handler, batch)
    try:
        with _records_without_callers():
            yield
    finally:
        for handler, batch in zip(replaced, batched, strict=True):
            # Closed while in place: a line logged meanwhile (a worker thread finishing its
            # request) joins the last batch, or once that is written is written at once.
            batch.close()
            _swap(root, batch, handler)


def _swap(logger: logging.Logger, old: logging.Handler, new: logging.Handler) -> None:
    """``new`` in ``old``'s place in one step: a record logged meanwhile finds one of them,
    never neither (removed, then added: the line was lost) nor both (written twice)."""
    with logging._lock:  # what addHandler and removeHandler hold
        handlers = logger.handlers
        if old in handlers:
            handlers[handlers.index(old)] = new
        else:  # the operator's config took it away meanwhile
            handlers.append(new)


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
