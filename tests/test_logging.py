"""What the service logs, and what it keeps out of production logs."""

import logging

from dinky_falcon.logs import configure_logging


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
