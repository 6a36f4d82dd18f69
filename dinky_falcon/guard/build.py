"""The guards, built once from Settings: one rate-limit storage and limiter, one client-IP
rule, the middleware in the order a request meets it, the forms' limit and the mail policy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.settings import Settings
from .auth import ApiKeyAuth, presented_key
from .clientip import client_ip
from .origin import OriginCheck
from .policy import MailPolicy
from .ratelimit import RateLimit, RateLimiter, make_storage
from .rebinding import RefuseReboundNames


@dataclass(frozen=True)
class Guards:
    before_cors: list  # the Origin check
    after_cors: list  # rebound names (development without keys), per-IP limit, API key, per-key
    form_limit: RateLimit  # RATE_LIMIT per form and client IP; forms' resource enforces it
    client_ip: Callable  # req -> the client's address (TRUSTED_PROXIES)
    policy: MailPolicy


def build_guards(
    settings: Settings, origins: list[str] | str, clock: Callable[[], float] = time.time
) -> Guards:
    """The per-IP limit comes before the key check, so guessing keys is rate limited too; a
    request with a valid key is counted per key only (RATE_LIMIT is for anonymous callers, and
    a site's back end may share its address with others, as behind a proxy). The API key
    middleware and its per-key limit do not apply to forms (a page holds no key)."""
    # One storage (one Redis client with redis://): the scopes ip, key and form count apart.
    limiter = RateLimiter(make_storage(settings.rate_limit_storage), clock)
    auth = ApiKeyAuth(settings.api_keys)

    def ip(req) -> str:
        return client_ip(req, settings.trusted_networks)

    def anonymous_ip(req) -> str | None:
        presented = presented_key(req)
        if presented and auth.match(presented) is not None:
            return None
        return ip(req)

    def key_label(req) -> str | None:
        return req.context.api_key.label if req.context.api_key is not None else None

    per_ip = RateLimit(limiter, settings.rate_limit_items, "ip", anonymous_ip)
    per_key = RateLimit(limiter, settings.rate_limit_per_key_items, "key", key_label)
    # Without keys nothing but the Host name keeps a rebound page from sending (rebinding.py).
    unkeyed_development = settings.environment == "development" and not settings.api_keys
    rebound = [RefuseReboundNames(settings.port)] if unkeyed_development else []
    return Guards(
        # In the chain only what has something to check: each middleware costs every request.
        before_cors=[] if origins == "*" else [OriginCheck(origins)],
        after_cors=rebound
        + [guard for guard in (per_ip, auth, per_key) if guard is auth or guard.limits],
        form_limit=RateLimit(limiter, settings.rate_limit_items, "form", lambda req: None),
        client_ip=ip,
        policy=MailPolicy(
            settings.sender_domains, settings.allowed_recipients, settings.accepts_test_domains
        ),
    )
