"""Logging set-up shared by ``dinky-mail serve`` and ``get_app()``."""

import logging

from .settings import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for warning in settings.warnings:
        logging.getLogger("dinky_falcon.settings").warning("%s", warning)
