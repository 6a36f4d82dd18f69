"""``stdout``: print each message to standard output instead of sending it (for debugging).

A drop-in plugin: any ``*.py`` file in PLUGINS_DIR (default ./plugins) is loaded at start.
Loading it only registers the name; nothing is printed unless MAIL_TRANSPORT=stdout.
"""

import sys
import threading

from dinky_falcon import hookimpl


class StdoutTransport:
    def __init__(self, settings):
        self.lock = threading.Lock()  # one message at a time, never interleaved

    def send(self, message, envelope):
        text = message.as_string(policy=message.policy.clone(linesep="\n"))
        with self.lock:
            sys.stdout.write(f"----- to {', '.join(envelope.recipients)}\n{text}\n")
            sys.stdout.flush()


@hookimpl
def register_transports(register):
    register("stdout", StdoutTransport)
