"""Exceptions shared by the core, the transports and third-party plugins."""


class ConfigError(Exception):
    """The service refuses to start; the message names the variable and the value."""


class TransportError(Exception):
    """A transport could not hand the message off: 503 (retry later) when temporary, else 502.

    ``message`` is shown to the API caller as it is, so it must say what happened in words a
    person can act on and must never contain a secret.
    """

    def __init__(self, message: str, *, temporary: bool):
        super().__init__(message)
        self.temporary = temporary


class MessageRefused(Exception):
    """A ``before_send`` hook refused the message; the caller sees 403 with the reason."""
