"""API keys: who may call the guarded routes. Keys are compared in constant time, never logged.

API_KEYS is a comma-separated list; each entry is ``KEY`` or ``LABEL:KEY``. The label names the
key in logs, in ``dinky-mail config`` and in API_KEY_RECIPIENTS_<LABEL>; an unlabelled key is
called ``key1``, ``key2``… by its position.
"""

from __future__ import annotations

import hmac
import logging

import falcon

from ..config.parsers import ApiKey
from ..web.errors import ApiError
from .ratelimit import is_guarded

log = logging.getLogger(__name__)


def presented_key(req: falcon.Request) -> str | None:
    """The key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""
    scheme, _, credentials = (req.get_header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return (req.get_header("X-API-Key") or "").strip() or None


class ApiKeyAuth:
    """Middleware: a guarded route without a valid key is a 401; ``req.context.api_key`` is set."""

    def __init__(self, keys: tuple[ApiKey, ...]):
        self.keys = keys

    def match(self, presented: str) -> ApiKey | None:
        """The key equal to ``presented``; every key is compared, so timing reveals nothing."""
        given = presented.encode("utf-8", "replace")
        found = None
        for key in self.keys:
            if hmac.compare_digest(given, key.secret.encode()):
                found = key
        return found

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.api_key = None

    def process_resource(self, req, resp, resource, params) -> None:
        if not self.keys or not is_guarded(req, resource):
            return
        presented = presented_key(req)
        key = self.match(presented) if presented else None
        if key is None:
            reason = "a wrong" if presented else "no"
            log.warning(
                "refused %s %s from %s: %s API key", req.method, req.path, req.remote_addr, reason
            )
            raise ApiError(
                falcon.HTTP_401,
                "Unauthorized",
                "Send a valid API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
                headers={"WWW-Authenticate": 'Bearer realm="dinky-falcon"'},
            )
        req.context.api_key = key
