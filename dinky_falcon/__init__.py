"""dinky-falcon: a small self-hosted mail service for websites.

The public contract for plugins is importable from here: ``hookimpl`` marks hook
implementations (see ``dinky_falcon.hookspecs``), transports raise ``TransportError`` (or
``OutcomeUnknown`` when the upstream's verdict on a whole message was lost), and
``before_send`` hooks raise ``MessageRefused``.
"""

from .errors import ConfigError, MessageRefused, OutcomeUnknown, TransportError
from .hookspecs import hookimpl
from .mail.message import Envelope

__all__ = [
    "ConfigError",
    "Envelope",
    "MessageRefused",
    "OutcomeUnknown",
    "TransportError",
    "hookimpl",
]
__version__ = "0.1.0"
