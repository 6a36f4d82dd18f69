"""The Origin check: a browser request from an origin outside ALLOWED_HOSTS is refused.

CORS alone only stops a browser from reading the answer; the mail would already be sent.
Requests without an Origin header (website back ends, curl) are not browser requests and pass.
"""

from __future__ import annotations

import ipaddress
import re

import falcon
import idna  # email-validator's own IDNA library: host names spelled as its addresses are

from .http_errors import ApiError

_HOST_PORT = re.compile(r"(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>[^:]*))?")


def ascii_hostname(text: str) -> str:
    """A host name as DNS and browsers spell it (IDNA, lower case), or an IP address;
    ValueError says why ``text`` is neither (``999.1.1.1``, ``mail host``, ``*.example.com``)."""
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if text.replace(".", "").isdigit():
        raise ValueError(f"{text!r} is not an IP address")
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{text!r} is not a host name ({exc})") from None


def parse_allowed_hosts(entries) -> tuple[str, ...]:
    """ALLOWED_HOSTS checked and spelled as browsers send Origin: ``*``, bare ``host[:port]``
    entries and ``http(s)://host[:port]`` origins; ValueError names a bad entry."""
    return tuple(entry if entry == "*" else _allowed_host(entry) for entry in entries)


def _allowed_host(entry: str) -> str:
    if "*" in entry:
        # CORS matches whole origins; a pattern would need a matcher of its own for little gain.
        raise ValueError(
            f"{entry!r}: wildcards are not supported; list each host "
            "(example.com,www.example.com), or give * alone to allow every origin"
        )
    scheme, separator, rest = entry.rpartition("://")
    if separator and scheme.lower() not in ("http", "https"):
        raise ValueError(f"{entry!r}: an origin starts with http:// or https://")
    match = _HOST_PORT.fullmatch(rest.removesuffix("/"))
    if match is None or not match["host"]:
        raise ValueError(f"{entry!r} is not a host name, host:port or http(s)://host[:port] origin")
    host = ascii_hostname(match["host"])
    if ":" in host:
        host = f"[{host}]"
    port = match["port"]
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{entry!r}: the port {port!r} is not a number from 1 to 65535")
    spelled = host if port is None else f"{host}:{int(port)}"
    return f"{scheme.lower()}://{spelled}" if separator else spelled


class OriginCheck:
    """Middleware: 403 for an Origin header that is not one of ``origins`` (or ``"*"``)."""

    def __init__(self, origins: list[str] | str):
        self.origins = origins if origins == "*" else frozenset(o.lower() for o in origins)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        origin = req.get_header("Origin")
        if origin is None or self.origins == "*" or origin.lower() in self.origins:
            return
        raise ApiError(
            falcon.HTTP_403,
            "Origin not allowed",
            f"Browser requests from {origin!r} are not allowed; the operator lists the allowed "
            "origins in ALLOWED_HOSTS.",
        )
