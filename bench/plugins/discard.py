"""``discard``: takes every message and keeps none. The benchmark's floor, never for real mail.

bench/run.py loads it (PLUGINS_DIR=bench/plugins) to measure what /send costs with no
transport at all: HTTP, validation, building the message. What a transport adds is the
difference between its row and this one.
"""

from dinky_falcon import hookimpl


class DiscardTransport:
    def __init__(self, settings):
        pass

    def send(self, message, envelope):
        pass


@hookimpl
def register_transports(register):
    register("discard", DiscardTransport)
