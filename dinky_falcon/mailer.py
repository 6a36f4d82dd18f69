"""The Mailer: build a message, run the hooks, hand it to the first transport that takes it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pluggy

from .addresses import parse_mailbox
from .errors import TransportError
from .message import Envelope, MessageBuilder
from .plugins import build_transports, make_plugin_manager
from .schemas import SendRequest
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What the caller is told on success."""

    message_id: str
    transport: str


class Mailer:
    def __init__(
        self,
        settings: Settings,
        pm: pluggy.PluginManager,
        transports: list[tuple[str, object]],
        builder: MessageBuilder,
    ):
        self.settings = settings
        self.pm = pm
        self.transports = transports
        self.builder = builder

    @classmethod
    def from_settings(cls, settings: Settings, pm: pluggy.PluginManager | None = None, **builder_options):
        pm = pm or make_plugin_manager(settings)
        builder = MessageBuilder(
            parse_mailbox(settings.default_from), settings.mail_domain, **builder_options
        )
        return cls(settings, pm, build_transports(settings, pm), builder)

    @property
    def transport_name(self) -> str:
        return ",".join(name for name, _ in self.transports)

    def send(
        self, request: SendRequest, check: Callable[[Envelope], None] | None = None
    ) -> Delivery:
        """Deliver or raise: TransportError (the last one, when every transport failed).

        ``check(envelope)`` runs before any hook or transport and may raise to refuse the message.
        """
        message, envelope = self.builder.build(request)
        if check is not None:
            check(envelope)
        self.pm.hook.before_send(message=message, envelope=envelope, settings=self.settings)
        error = None
        for name, transport in self.transports:
            try:
                transport.send(message, envelope)
            except TransportError as exc:
                error = exc
                log.warning("transport %s failed (%s): %s", name, _kind(exc), exc)
                if not exc.temporary:
                    break
                continue
            self._after_send(message, envelope, name, None)
            return Delivery(message["Message-ID"], name)
        self._after_send(message, envelope, name, error)
        raise error

    def _after_send(self, message, envelope, transport, error) -> None:
        try:
            self.pm.hook.after_send(
                message=message, envelope=envelope, transport=transport, error=error
            )
        except Exception:
            log.exception("an after_send hook failed; the answer to the caller is unchanged")

    def close(self) -> None:
        for name, transport in self.transports:
            close = getattr(transport, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("transport %s failed to close", name)


def _kind(error: TransportError) -> str:
    return "temporary" if error.temporary else "permanent"
