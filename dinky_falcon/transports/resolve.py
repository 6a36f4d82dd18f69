"""Connecting to a host by name with the name's lookup bounded in time, like the rest.

``socket.getaddrinfo()`` takes no timeout: the system resolver waits for as long as
resolv.conf says (by default 5 s per server and attempt), so a resolver that does not answer
would hold a request far past SMTP_TIMEOUT. The lookup runs in a thread of its own; the caller
stops waiting when the timeout is up, and the thread ends when the resolver gives up.
"""

from __future__ import annotations

import ipaddress
import socket
import threading


class ResolutionTimeout(TimeoutError):
    """The host name was not resolved within the timeout."""


def resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """``getaddrinfo(host, port)`` for TCP, within ``timeout`` seconds."""
    if _is_address(host):  # nothing to look up
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    outcome: list = []
    done = threading.Event()

    def look_up() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            outcome.append(exc)
        done.set()

    # A daemon thread: one still waiting on the resolver never holds up a stopping service.
    threading.Thread(target=look_up, name="dinky-falcon-resolve", daemon=True).start()
    if not done.wait(timeout):
        raise ResolutionTimeout(f"{host} was not resolved within {timeout:g} s")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection((host, port), timeout)``, its lookup bounded too: each
    address in turn, the first that accepts; when none does, the last one's error."""
    error: OSError | None = None
    for family, kind, protocol, _, address in resolve(host, port, timeout):
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error if error is not None else OSError(f"{host} has no address")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
