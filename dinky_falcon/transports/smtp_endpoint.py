"""Where and how an SMTP transport connects: host, port, TLS mode, timeout and login."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field

from ..config.defaults import SEND_DEADLINE_FACTOR

APP_PASSWORDS_URL = "https://myaccount.google.com/apppasswords"


# How the session is encrypted.
PLAIN = "plain"  # never


OPPORTUNISTIC = "opportunistic"  # STARTTLS when the server offers it


STARTTLS = "starttls"  # STARTTLS required


IMPLICIT = "implicit"  # TLS from the first byte (port 465)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: str
    timeout: float
    local_hostname: str
    context: ssl.SSLContext | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    # Where the operator fixes the host and port, for the advice in error texts.
    variables: str = "SMTP_HOST/SMTP_PORT"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def deadline(self) -> float:
        """Seconds a whole send may take (see SEND_DEADLINE_FACTOR)."""
        return SEND_DEADLINE_FACTOR * self.timeout

    @property
    def verifies(self) -> bool:
        return self.context is not None and self.context.verify_mode == ssl.CERT_REQUIRED


def tls_context(verify: bool) -> ssl.SSLContext:
    """The system trust store (SSL_CERT_FILE is honoured), or encryption without verification."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
