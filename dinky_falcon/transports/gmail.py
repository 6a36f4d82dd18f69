"""``gmail`` (also ``relay``, for any SMTP provider): authenticated SMTP to SMTP_RELAY_HOST."""

from __future__ import annotations

import logging

from ..errors import ConfigError
from ..hookspecs import hookimpl
from .smtp import APP_PASSWORDS_URL, IMPLICIT, PLAIN, STARTTLS, Endpoint, SmtpTransport

log = logging.getLogger(__name__)


def make_relay_transport(settings) -> SmtpTransport:
    if not (settings.smtp_relay_username and settings.smtp_relay_password):
        raise ConfigError(
            "the gmail/relay transport needs SMTP_RELAY_USERNAME and SMTP_RELAY_PASSWORD "
            f"(for Gmail, an App Password made at {APP_PASSWORDS_URL})"
        )
    where = f"{settings.smtp_relay_host}:{settings.smtp_relay_port}"
    if settings.smtp_relay_port == 465:
        tls = IMPLICIT
    elif settings.use_tls:
        tls = STARTTLS
    else:
        tls = PLAIN
        log.warning("USE_TLS=no: the relay password crosses the network to %s unencrypted", where)
    if tls != PLAIN and not settings.tls_verify:
        log.warning(
            "TLS_VERIFY=no: the certificate of %s is not verified; anyone on the path can "
            "pose as the relay and read the password and the mail",
            where,
        )
    endpoint = relay_endpoint(settings, tls)
    return SmtpTransport(
        endpoint, pool_size=settings.threads, reuse=settings.smtp_reuse_connections
    )


def relay_endpoint(settings, tls: str = STARTTLS) -> Endpoint:
    """SMTP_RELAY_HOST:SMTP_RELAY_PORT with the login; ``tls`` as USE_TLS says (465: implicit)."""
    if settings.smtp_relay_port == 465:
        tls = IMPLICIT
    return Endpoint(
        host=settings.smtp_relay_host,
        port=settings.smtp_relay_port,
        tls=tls,
        timeout=settings.smtp_timeout,
        local_hostname=settings.mail_hostname,
        verify=settings.tls_verify if tls != PLAIN else None,
        username=settings.smtp_relay_username,
        password=settings.smtp_relay_password,
        variables="SMTP_RELAY_HOST/SMTP_RELAY_PORT",
    )


@hookimpl
def register_transports(register):
    register("gmail", make_relay_transport)
    register("relay", make_relay_transport)
