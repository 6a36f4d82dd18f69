"""Where and how an SMTP transport connects: host, port, TLS mode, timeout and login."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from functools import cached_property

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
    # Verify the server's certificate (True), encrypt without verifying (False), or no TLS
    # (None). The SSLContext itself is made at the first connection: loading the system's
    # CA certificates takes 1.8 MB that an idle service need not hold.
    verify: bool | None = None
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
        return self.verify is True

    @cached_property  # frozen: cached_property writes the instance's __dict__ directly
    def context(self) -> ssl.SSLContext | None:
        return None if self.verify is None else tls_context(self.verify)


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
