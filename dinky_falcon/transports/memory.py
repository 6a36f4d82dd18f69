"""``memory``: keeps messages in a list. For tests and for trying the API without a sink."""

import threading

from ..errors import ConfigError
from ..hookspecs import hookimpl


class MemoryTransport:
    def __init__(self, settings=None):
        if settings is not None and settings.environment == "production":
            # Every send would "succeed" and every message would be lost.
            raise ConfigError(
                "MAIL_TRANSPORT=memory delivers nothing (messages stay in memory): "
                "not allowed with ENVIRONMENT=production; use postfix, gmail or a plugin's transport"
            )
        self.sent = []  # (message, envelope) in the order accepted
        self._lock = threading.Lock()

    def send(self, message, envelope):
        with self._lock:
            self.sent.append((message, envelope))

    def check(self):
        pass

    def close(self):
        pass


@hookimpl
def register_transports(register):
    register("memory", MemoryTransport)
