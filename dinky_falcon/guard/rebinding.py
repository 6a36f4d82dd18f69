"""In development without API keys, the routes that send mail answer only at names a DNS
rebinding attack cannot use (the outbox does the same: web/outbox_host.py).

A page on ``attacker.example`` whose name the attacker then re-points at 127.0.0.1 is, to the
browser, of the same origin as the service: its script could POST to /send or a form and mail
through the developer's transport (their Gmail relay, say). Its requests still carry the
attacker's name in the Host header. With API keys the key protects these routes at any name;
production is left alone, where the compose stack reaches the service as ``mail-api.local``.
"""

from __future__ import annotations

import logging

import falcon

from ..web.errors import ApiError
from ..web.outbox_host import is_unrebindable

log = logging.getLogger(__name__)


def sends_mail(req: falcon.Request) -> bool:
    """/send and /forms/* (a form's token or thanks page is no use to a rebound page either),
    by the route the router matched: the path as written ("//send") may differ."""
    route = req.uri_template or ""
    return req.method != "OPTIONS" and (route == "/send" or route.startswith("/forms/"))


class RefuseReboundNames:
    """Middleware: a request that can send mail at a rebindable Host name is a 403."""

    def __init__(self, port: int):
        self.port = port

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        host = req.get_header("Host") or ""
        if not sends_mail(req) or is_unrebindable(host):
            return
        log.warning("refused %s %s at Host %r: not a loopback name", req.method, req.path, host)
        raise ApiError(
            falcon.HTTP_403,
            "Forbidden",
            "Without API keys this service sends mail only for requests to localhost or an IP "
            f"address, such as http://127.0.0.1:{self.port} or http://localhost:{self.port} "
            "(any other name could be a DNS rebinding attack); or set API_KEYS.",
        )
