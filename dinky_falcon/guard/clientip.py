"""The client's IP address: X-Forwarded-For is believed only when a trusted proxy says it."""

from __future__ import annotations

import ipaddress

import falcon

from ..config.parsers import Network


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address, proxies: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_ip(req: falcon.Request, proxies: tuple[Network, ...]) -> str:
    """The peer's address, or, when the peer is a trusted proxy, the nearest untrusted hop.

    X-Forwarded-For is read from the right: each proxy appends the address it saw, so entries
    left of the first untrusted hop were written by the client and can be anything.
    """
    peer = req.remote_addr
    if not _trusted(_address(peer), proxies):
        return peer
    hops = (req.get_header("X-Forwarded-For") or "").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage: believe the last proxy, not what the client wrote
        peer = str(address)
        if not _trusted(address, proxies):
            break
    return peer
