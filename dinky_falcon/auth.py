"""API keys: who may call the guarded routes. Keys are compared in constant time, never logged.

API_KEYS is a comma-separated list; each entry is ``KEY`` or ``LABEL:KEY``. The label names the
key in logs, in ``dinky-mail config`` and in API_KEY_RECIPIENTS_<LABEL>; an unlabelled key is
called ``key1``, ``key2``… by its position.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass, field

import falcon

from .http_errors import ApiError

log = logging.getLogger(__name__)

MIN_KEY_LENGTH = 16
_LABEL = re.compile(r"[A-Za-z0-9_]{1,32}")
# Routes anyone may call: the liveness probe and the API's description. /health/ready is not
# among them: it logs in to the relay, so anyone calling it freely could hammer Gmail.
PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})


@dataclass(frozen=True)
class ApiKey:
    """One key; ``recipients`` (from API_KEY_RECIPIENTS_<LABEL>) overrides ALLOWED_RECIPIENTS."""

    label: str
    secret: str = field(repr=False)
    recipients: tuple[str, ...] | None = None

    @property
    def variable(self) -> str:
        """The name of the variable that binds this key to its own recipients."""
        return f"API_KEY_RECIPIENTS_{self.label.upper()}"


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """API_KEYS -> keys, or ValueError naming the entry by label or position, never the key."""
    keys: list[ApiKey] = []
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    for position, entry in enumerate(entries, start=1):
        label, _, secret = entry.partition(":")
        if not secret or not _LABEL.fullmatch(label):
            label, secret = f"key{position}", entry
        label = label.lower()
        if len(secret) < MIN_KEY_LENGTH:
            raise ValueError(f"key {label!r} is shorter than {MIN_KEY_LENGTH} characters")
        if any(k.label == label for k in keys):
            raise ValueError(f"the label {label!r} is used twice")
        if any(hmac.compare_digest(k.secret.encode(), secret.encode()) for k in keys):
            raise ValueError(f"key {label!r} repeats an earlier key")
        keys.append(ApiKey(label, secret))
    return tuple(keys)


def is_guarded(req: falcon.Request, resource) -> bool:
    """True for the routes that need a key: every routed, non-preflight request off PUBLIC_PATHS
    whose resource is not marked ``public`` (contact forms: a web page cannot hold a key)."""
    if resource is None or getattr(resource, "public", False):
        return False
    return req.method != "OPTIONS" and req.path not in PUBLIC_PATHS


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
