"""Logging set-up shared by ``dinky-mail serve`` and ``get_app()``."""

import logging

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
