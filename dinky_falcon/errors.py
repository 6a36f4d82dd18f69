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


class OutcomeUnknown(TransportError):
    """The upstream had the whole message but its verdict was lost: the caller sees 504 with
    ``"outcome": "unknown"`` and the Message-ID, no Retry-After; it is never failed over.

    Raise it only once every byte of the message was handed over: before that, the upstream
    cannot deliver what it never fully got, and a plain temporary TransportError is right.
    ``message_id`` is filled in by the Mailer, which knows it.
    """

    def __init__(self, message: str, *, message_id: str | None = None):
        super().__init__(message, temporary=False)  # "retry later" would send a second copy
        self.message_id = message_id


class MessageRefused(Exception):
    """A ``before_send`` hook refused the message; the caller sees 403 with the reason."""


class PluginError(Exception):
    """A plugin raised something unexpected: the caller sees 500, the log names the plugin.

    ``plugin`` is the plugin's name as ``dinky-mail plugins`` shows it; ``stage`` says what it
    was doing (``before_send``, ``transport 'webhook'``). The original exception is the cause.
    """

    def __init__(self, plugin: str, stage: str):
        super().__init__(f"plugin {plugin} failed in {stage}")
        self.plugin = plugin
        self.stage = stage


class StoreUnavailable(Exception):
    """The idempotency store cannot be read or written: 503, retry later."""


class PolicyRefused(Exception):
    """The sender or a recipient is outside this service's policy (guard/policy.py): 403.

    ``title`` is the error's short title, ``details`` what the caller reads."""

    def __init__(self, title: str, details: str):
        super().__init__(details)
        self.title = title
        self.details = details
