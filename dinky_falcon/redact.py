"""Secrets out of sight: a storage URL as it may be shown in a log, an answer or a terminal.

``redact_url`` is the one place that decides what of a URL (RATE_LIMIT_STORAGE,
IDEMPOTENCY_STORE) is shown: ``dinky-mail config``, start-up errors, ``repr(Settings)`` and
/health/ready all go through it. It shows what an operator needs to recognise the URL — the
scheme, host, port, path and harmless query parameters — and nothing that can hold a secret.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

HIDDEN = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# What a host, port and path look like when nothing was misplaced into them: a password
# holding an unescaped "/", "?", "#" or "@" makes the parser put pieces of it there instead.
_HOST_PORT = re.compile(r"(?:[A-Za-z0-9._~%-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?")
_PATH = re.compile(r"[A-Za-z0-9._~%/+-]*")
_QUERY_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Query parameters that carry credentials in storage URLs (redis-py, limits, TLS options).
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|key|auth|cred|sig|user", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its user information and secret query values shown as ``***``.

    A URL that does not parse cleanly is shown as its scheme alone (``reddis://***``), or as
    ``***`` without one: whatever is malformed may be a misplaced part of a password.
    """
    if not url:
        return ""
    scheme, separator, _ = url.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return HIDDEN
    whole = f"{scheme}://{HIDDEN}"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host
        return whole
    _, at, host_port = parts.netloc.rpartition("@")
    if not _HOST_PORT.fullmatch(host_port) or not _PATH.fullmatch(parts.path) or parts.fragment:
        return whole
    query = _redact_query(parts.query)
    if query is None:
        return whole
    userinfo = f"{HIDDEN}@" if at else ""
    return f"{scheme}://{userinfo}{host_port}{parts.path}{'?' if query else ''}{query}"


def _redact_query(query: str) -> str | None:
    """``a=1&password=x`` -> ``a=1&password=***``; None when a name is not a plain word."""
    shown = []
    for parameter in re.split("[&;]", query) if query else ():
        name, equals, value = parameter.partition("=")
        if not _QUERY_NAME.fullmatch(name):
            return None
        if not equals:  # a bare word is no parameter anyone documents: maybe a pasted secret
            name = HIDDEN
        elif _SECRET_NAME.search(name) or not _PATH.fullmatch(value):
            value = HIDDEN
        shown.append(f"{name}{equals}{value}")
    return "&".join(shown)
