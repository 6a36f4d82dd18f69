"""The Mailer: build a message, run the hooks, hand it to the first transport that takes it."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pluggy

from .config.settings import Settings
from .errors import MessageRefused, OutcomeUnknown, PluginError, TransportError
from .hookspecs import Checkable, Closable
from .mail.addresses import parse_mailbox
from .mail.dkim import DkimSigner
from .mail.message import Envelope, MessageBuilder, message_id
from .mail.mime import UnsafeHeader
from .mail.request import SendRequest
from .message_log import MessageEvent, log_message
from .plugins import build_transports, failing_plugin, make_plugin_manager, transport_registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What the caller is told on success."""

    message_id: str
    transport: str
    queue_id: str | None = None  # the upstream's, from its reply (SMTP transports)
    location: str | None = None  # where the file transport wrote it


def _outcome(error: BaseException) -> str:
    """A failed send's outcome in the message's log line: unknown, refused (for good) or failed."""
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    if isinstance(error, MessageRefused):
        return "refused"
    if isinstance(error, TransportError):
        return "failed" if error.temporary else "refused"
    return "failed"


class Mailer:
    def __init__(
        self,
        settings: Settings,
        pm: pluggy.PluginManager,
        transports: list[tuple[str, object]],
        builder: MessageBuilder,
        *,
        plugin_of: Mapping[str, str],
        signer: DkimSigner | None = None,
    ):
        self.settings = settings
        self.pm = pm
        self.transports = transports
        self.builder = builder
        self.plugin_of = plugin_of  # transport name -> the plugin that registered it
        self.signer = signer  # DKIM, when a key is configured
        # Each hears what became of every message (message_log.MessageEvent): the log line,
        # and the metrics when the app counts them.
        self.observers = [log_message]

    @classmethod
    def from_settings(
        cls, settings: Settings, pm: pluggy.PluginManager | None = None, **builder_options
    ):
        pm = pm or make_plugin_manager(settings)
        builder = MessageBuilder(
            parse_mailbox(settings.default_from, settings.accepts_test_domains),
            settings.mail_domain,
            **builder_options,
        )
        registry = transport_registry(pm)
        transports = build_transports(settings, registry)
        plugin_of = {name: registry[name].plugin for name, _ in transports}
        signer = DkimSigner.from_settings(settings)
        return cls(settings, pm, transports, builder, plugin_of=plugin_of, signer=signer)

    @property
    def transport_name(self) -> str:
        return ",".join(name for name, _ in self.transports)

    @property
    def transport_plugin(self) -> str:
        """The plugins of the selected transports, in the same order as ``transport_name``."""
        return ",".join(self.plugin_of[name] for name, _ in self.transports)

    def send(
        self,
        request: SendRequest,
        check: Callable[[Envelope], None] | None = None,
        *,
        key: str | None = None,
        form: str | None = None,
    ) -> Delivery:
        """Deliver or raise: TransportError (after failover its text says why each transport
        failed), OutcomeUnknown (carrying the Message-ID), MessageRefused, or PluginError when
        a plugin raised anything else.

        ``check(envelope)`` runs before any hook or transport and may raise to refuse the message.
        ``key`` (an API key's label) or ``form`` (a form's name) say who sent it, in the log.
        """
        started = time.perf_counter()
        message, envelope = self.builder.build(request)

        def report(outcome: str, transport: str | None = None, sent: Delivery | None = None):
            self.report(
                MessageEvent(
                    outcome,
                    sent.message_id if sent is not None else message_id(message),
                    sent.transport if sent is not None else transport,
                    len(envelope.recipients),
                    time.perf_counter() - started,
                    sent.queue_id if sent is not None else None,
                    key=key,
                    form=form,
                )
            )

        if check is not None:
            try:
                check(envelope)
            except BaseException:
                report("refused")  # whatever ``check`` raises refuses the message
                raise
        if self.settings.bounce_address:  # after the sender policy judged the From address
            envelope = dataclasses.replace(envelope, sender=self.settings.bounce_address)
        try:
            delivery = self._send(message, envelope)
        except BaseException as exc:
            report(_outcome(exc), getattr(exc, "transport", None))
            raise
        report("sent", sent=delivery)
        return delivery

    def report(self, event: MessageEvent) -> None:
        """Tell every observer; one that fails never changes the answer to the caller."""
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                log.exception("observer %r failed on a message event", observer)

    def _send(self, message, envelope) -> Delivery:
        self._before_send(message, envelope)
        if self.signer is not None:  # after the hooks: what is signed is what is sent
            self.signer.sign(message)
        failures = []
        for name, transport in self.transports:
            try:
                result = transport.send(message, envelope)
            except TransportError as exc:
                exc.transport = name  # for the message's log line
                failures.append((name, exc))
                log.warning("transport %s failed (%s): %s", name, _kind(exc), exc)
                if isinstance(exc, OutcomeUnknown):
                    exc.message_id = message_id(message)  # what the caller can look for
                if not exc.temporary:  # refused for good, or maybe sent: never failed over
                    break
                continue
            except Exception as exc:
                # A bug, not an upstream failure: trying the next transport would hide it.
                crash = PluginError(self.plugin_of[name], f"transport {name!r}")
                crash.__cause__ = exc
                crash.transport = name
                self._after_send(message, envelope, name, crash)
                raise crash from exc
            self._after_send(message, envelope, name, None)
            location = os.fspath(result) if isinstance(result, os.PathLike) else None
            return Delivery(message_id(message), name, getattr(result, "queue_id", None), location)
        error = failures[-1][1]
        if len(failures) > 1:
            # The caller should see why every transport failed, not only the last one.
            text = "; ".join(f"{name}: {exc}" for name, exc in failures)
            if isinstance(error, OutcomeUnknown):
                error = OutcomeUnknown(text, message_id=error.message_id)
            else:
                error = TransportError(text, temporary=error.temporary)
            error.transport = name
        self._after_send(message, envelope, name, error)
        raise error

    def _before_send(self, message, envelope) -> None:
        if not self.pm.hook.before_send.get_hookimpls():
            return
        message.wire = None  # a hook may change the message: flatten it afresh
        try:
            self.pm.hook.before_send(message=message, envelope=envelope, settings=self.settings)
        except MessageRefused:
            raise
        except Exception as exc:
            raise PluginError(failing_plugin(self.pm, "before_send", exc), "before_send") from exc
        try:
            # Once, here: a header a hook set that would break a line (mime.VerifiedPolicy)
            # is the hooks' fault, not the transport's that would write it.
            message.wire = message.as_bytes()
        except UnsafeHeader as exc:
            hooks = ", ".join(i.plugin_name for i in self.pm.hook.before_send.get_hookimpls())
            raise PluginError(hooks, "before_send: a header it set would break a line") from exc

    def check(self) -> list[dict]:
        """Readiness of each transport: name, ready, and what was checked or what failed."""
        report = []
        for name, transport in self.transports:
            try:
                details = transport.check() if isinstance(transport, Checkable) else None
            except TransportError as exc:
                report.append({"name": name, "ready": False, "details": str(exc)})
                continue
            except Exception:
                log.exception("transport %s: check() failed unexpectedly", name)
                report.append(
                    {"name": name, "ready": False, "details": "check failed; see the log"}
                )
                continue
            report.append({"name": name, "ready": True, "details": details or "ok"})
        return report

    def _after_send(self, message, envelope, transport, error) -> None:
        if not self.pm.hook.after_send.get_hookimpls():
            return  # calling a hook that no plugin implements still costs every message
        try:
            self.pm.hook.after_send(
                message=message, envelope=envelope, transport=transport, error=error
            )
        except Exception as exc:
            log.exception(
                "after_send of plugin %s failed; the answer to the caller is unchanged",
                failing_plugin(self.pm, "after_send", exc),
            )

    def close(self) -> None:
        for name, transport in self.transports:
            if isinstance(transport, Closable):
                try:
                    transport.close()
                except Exception:
                    log.exception("transport %s failed to close", name)


def _kind(error: TransportError) -> str:
    if isinstance(error, OutcomeUnknown):
        return "outcome unknown"
    return "temporary" if error.temporary else "permanent"
