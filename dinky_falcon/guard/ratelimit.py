"""Rate limits per client IP and per API key, counted by the ``limits`` package.

RATE_LIMIT="10/minute;100/hour" is parsed by ``limits``; its FixedWindowRateLimiter counts in
its storage (in memory, or Redis through RATE_LIMIT_STORAGE so replicas share the counts).
Windows are aligned to the clock the app is given — the window's number is part of the
counter's key — so every replica agrees on when a window ends, the reset time is exact, and
tests can move time forward without sleeping.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import falcon
from limits import RateLimitItem
from limits.errors import ConfigurationError, StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from ..errors import ConfigError
from ..redact import redact_url
from ..web.errors import RETRY_AFTER_SECONDS, ApiError

log = logging.getLogger(__name__)

# Routes anyone may call: the liveness probe and the API's description. /health/ready is not
# among them: it logs in to the relay, so anyone calling it freely could hammer Gmail.
PUBLIC_PATHS = frozenset({"/health", "/openapi.json"})


def is_guarded(req: falcon.Request, resource) -> bool:
    """True for the routes that need a key: every routed, non-preflight request off PUBLIC_PATHS
    whose resource is not marked ``public`` (contact forms: a web page cannot hold a key)."""
    if resource is None or getattr(resource, "public", False):
        return False
    return req.method != "OPTIONS" and req.path not in PUBLIC_PATHS


def make_storage(uri: str) -> Storage:
    """The counters' storage for RATE_LIMIT_STORAGE (``memory://``, ``redis://host:6379/0``)."""
    try:
        return storage_from_string(uri, wrap_exceptions=True)
    except (ConfigurationError, ValueError):
        # Not the library's words: they quote the URL, or a piece of a misplaced password.
        raise ConfigError(
            f"RATE_LIMIT_STORAGE={redact_url(uri)!r} is not a usable storage URL: use memory:// "
            "or redis://[:password@]host:6379/0 (percent-encode / ? # @ in a password)"
        ) from None


@dataclass(frozen=True)
class Window:
    """One limit's state after a hit: what the RateLimit headers report."""

    limit: int
    remaining: int
    reset: float  # seconds until the window ends
    exceeded: bool


class RateLimiter:
    """Counts hits per (scope, identity) against limits, in windows aligned to ``clock``."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time):
        self.strategy = FixedWindowRateLimiter(storage)
        self.clock = clock

    def hit(self, limits: tuple[RateLimitItem, ...], scope: str, identity: str) -> list[Window]:
        """Count one request against every limit, unless one is used up already: a refused
        request costs nothing. Raises StorageError when the storage cannot be reached."""
        now = self.clock()
        windows, keys = [], []
        for item in limits:
            length = item.get_expiry()
            key = (item, scope, identity, str(int(now // length)))
            left = self.strategy.get_window_stats(*key).remaining
            reset = (now // length + 1) * length - now
            windows.append(Window(item.amount, left, reset, exceeded=left <= 0))
            keys.append(key)
        if any(window.exceeded for window in windows):
            return windows
        counted = []
        for window, key in zip(windows, keys, strict=True):
            # Another thread or replica may have taken the last hit meanwhile: hit() decides.
            allowed = self.strategy.hit(*key)
            counted.append(
                replace(window, remaining=max(0, window.remaining - 1), exceeded=not allowed)
            )
        return counted


def rate_limit_headers(window: Window) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(window.remaining),
        "RateLimit-Reset": str(math.ceil(window.reset)),
    }


class RateLimit:
    """Middleware counting guarded requests per identity; over a limit is a 429.

    ``identify(req)`` names who is counted (a client IP, an API key's label) or None to skip.
    The most constrained window seen for a request is reported in its RateLimit-* headers.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        limits: tuple[RateLimitItem, ...],
        scope: str,
        identify: Callable[[falcon.Request], str | None],
    ):
        self.limiter = limiter
        self.limits = limits
        self.scope = scope
        self.identify = identify

    def process_resource(self, req, resp, resource, params) -> None:
        if not self.limits or not is_guarded(req, resource):
            return
        identity = self.identify(req)
        if identity is not None:
            self.enforce(req, identity)

    def enforce(self, req: falcon.Request, identity: str) -> None:
        """Count ``req`` for ``identity``; a 429 when over a limit (a resource may call it)."""
        if not self.limits:
            return
        try:
            windows = self.limiter.hit(self.limits, self.scope, identity)
        except StorageError as exc:
            log.error("rate limit storage unavailable: %s", exc)
            raise ApiError(
                falcon.HTTP_503,
                "Rate limiting unavailable, retry later",
                "The rate limit storage cannot be reached.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        tightest = min(windows, key=lambda w: (w.remaining, -w.reset))
        seen = getattr(req.context, "rate_limit", None)
        if seen is None or tightest.remaining < seen.remaining:
            req.context.rate_limit = tightest
        exceeded = [w for w in windows if w.exceeded]
        if exceeded:
            retry_after = math.ceil(max(w.reset for w in exceeded))
            log.warning("rate limited %s %s (%s)", self.scope, identity, req.path)
            raise ApiError(
                falcon.HTTP_429,
                "Too many requests",
                f"Rate limit exceeded; retry after {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        window = getattr(req.context, "rate_limit", None)
        if window is not None:
            resp.set_headers(rate_limit_headers(window))
