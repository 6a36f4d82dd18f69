"""The development outbox answers only at names a DNS rebinding attack cannot use.

In development the outbox needs no key. A page on ``attacker.example`` whose name the
attacker then points at 127.0.0.1 is, to the browser, of the same origin as the service
behind it: its script could read and delete the captured mail. Such a request still carries
the attacker's name in its Host header, so the outbox answers only a loopback name
(``localhost``, ``*.localhost``) or an IP address literal, which no DNS answer can re-point.
With API keys (OUTBOX_UI=yes in production) the key is what protects it, behind any name.
"""

from __future__ import annotations

import ipaddress

import falcon

from .errors import ApiError


def is_unrebindable(host: str) -> bool:
    """Whether a Host header (``name[:port]``, ``[v6]:port``) names loopback or an address."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def refuse_rebound_names(req: falcon.Request, resp, resource, params) -> None:
    """A falcon ``before`` hook for the outbox's resources when no key guards them."""
    if resource.keyed or is_unrebindable(req.get_header("Host") or ""):
        return
    raise ApiError(
        falcon.HTTP_403,
        "Forbidden",
        "The development outbox answers only at localhost or an IP address, such as "
        "http://127.0.0.1:20001/outbox.",
    )
