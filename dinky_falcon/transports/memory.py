"""``memory``: keeps messages in a list. For tests and for trying the API without a sink."""

import threading

from ..hookspecs import hookimpl


class MemoryTransport:
    def __init__(self, settings=None):
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
