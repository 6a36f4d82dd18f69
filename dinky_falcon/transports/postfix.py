"""``postfix``: plain SMTP to the local relay at SMTP_HOST:SMTP_PORT, which queues the mail."""

from __future__ import annotations

from collections.abc import Callable

from ..hookspecs import hookimpl
from .gmail import relay_endpoint
from .smtp import OPPORTUNISTIC, PLAIN, Endpoint, SmtpTransport, is_loopback


class PostfixTransport(SmtpTransport):
    """SMTP to the local Postfix; its diagnosis also walks the relay Postfix hands mail to."""

    def __init__(self, endpoint: Endpoint, relay: Endpoint | None, **options):
        super().__init__(endpoint, **options)
        self.relay = relay

    def diagnose(self, report: Callable[[str], None]) -> None:
        # Postfix accepts (and queues) whatever the relay will refuse: a wrong App Password
        # shows only as mail deferred in its queue. So `dinky-mail check` logs in to the relay
        # with the same SMTP_RELAY_* settings Postfix was configured from. Not in check(),
        # which /health/ready runs at every probe: a login to Gmail each time costs too much.
        super().diagnose(report)
        if self.relay is not None:
            SmtpTransport(self.relay, pool_size=1).diagnose(lambda step: report(f"relay {step}"))


def make_postfix_transport(settings) -> PostfixTransport:
    # Unverified, because opportunistic TLS guards against eavesdropping only: an attacker who
    # can fake a certificate can as easily strip the STARTTLS offer. On loopback it buys nothing.
    tls = PLAIN if is_loopback(settings.smtp_host) else OPPORTUNISTIC
    endpoint = Endpoint(
        host=settings.smtp_host,
        port=settings.smtp_port,
        tls=tls,
        timeout=settings.smtp_timeout,
        local_hostname=settings.mail_hostname,
        verify=False if tls == OPPORTUNISTIC else None,
    )
    # The relay is known only when it is configured with a login (as configure-postfix does).
    relay = relay_endpoint(settings) if settings.smtp_relay_username else None
    return PostfixTransport(
        endpoint, relay, pool_size=settings.threads, reuse=settings.smtp_reuse_connections
    )


@hookimpl
def register_transports(register):
    register("postfix", make_postfix_transport)
