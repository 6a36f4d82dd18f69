"""The fill-time token: a signed timestamp from ``GET /forms/NAME/token`` that a submission
sends back, refused when the form was filled in faster than its MIN_SECONDS."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from ..config.forms import Form

TOKEN_MAX_AGE = 24 * 3600  # seconds: a page left open for a day must be reloaded


TOO_QUICKLY = "The form was sent too quickly: wait a few seconds and send it again."


_TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{16})\.(.*)", re.DOTALL)


def _signature(secret: str, form: str, issued: int, nonce: str) -> str:
    message = f"{form}.{issued}.{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def sign_token(secret: str, form: str, now: float) -> str:
    """A token saying when the page was loaded, bound to the form and unique (its nonce lets
    it be spent once): ``<unix time>.<nonce>.<hmac>``."""
    issued, nonce = int(now), secrets.token_urlsafe(12)
    return f"{issued}.{nonce}.{_signature(secret, form, issued, nonce)}"


def token_nonce(token: str) -> str:
    """The nonce of a token ``token_problem`` accepted: what spends it."""
    return _TOKEN.fullmatch(token)[2]


def token_problem(
    secret: str, form: Form, token: str, now: float, max_age: int = TOKEN_MAX_AGE
) -> str | None:
    """Why ``token`` does not show the form was filled in for ``form.min_seconds``, or None."""
    parts = _TOKEN.fullmatch(token)
    if parts is None or not hmac.compare_digest(
        parts[3].encode("utf-8", "replace"),
        _signature(secret, form.name, int(parts[1]), parts[2]).encode(),
    ):
        return "The form's token is missing or invalid: reload the page and send it again."
    age = now - int(parts[1])
    if age > max_age:
        return "The page was loaded too long ago: reload it and send the form again."
    if age < form.min_seconds:
        return TOO_QUICKLY
    return None
