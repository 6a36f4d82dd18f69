"""``postfix``: plain SMTP to the local relay at SMTP_HOST:SMTP_PORT, which queues the mail."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .smtp import OPPORTUNISTIC, PLAIN, Endpoint, SmtpTransport, is_loopback, tls_context


def make_postfix_transport(settings) -> SmtpTransport:
    # Unverified, because opportunistic TLS guards against eavesdropping only: an attacker who
    # can fake a certificate can as easily strip the STARTTLS offer. On loopback it buys nothing.
    tls = PLAIN if is_loopback(settings.smtp_host) else OPPORTUNISTIC
    endpoint = Endpoint(
        host=settings.smtp_host,
        port=settings.smtp_port,
        tls=tls,
        timeout=settings.smtp_timeout,
        local_hostname=settings.mail_hostname,
        context=tls_context(verify=False) if tls == OPPORTUNISTIC else None,
    )
    return SmtpTransport(
        endpoint, pool_size=settings.threads, reuse=settings.smtp_reuse_connections
    )


@hookimpl
def register_transports(register):
    register("postfix", make_postfix_transport)
