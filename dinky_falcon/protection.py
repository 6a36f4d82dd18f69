"""The abuse-protection middleware, in the order a request meets it, built from Settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from .auth import ApiKeyAuth, presented_key
from .clientip import client_ip, parse_networks
from .origin import OriginCheck
from .policy import MailPolicy
from .ratelimit import RateLimit, RateLimiter, make_storage, parse_rate_limit
from .settings import Settings


def protection_middleware(
    settings: Settings, origins: list[str] | str, clock: Callable[[], float] = time.time
) -> tuple[list, list]:
    """(before CORS, after CORS): the Origin check, then per-IP limit, API key, per-key limit.

    The per-IP limit comes before the key check, so guessing keys is rate limited too; a
    request with a valid key is counted per key only (RATE_LIMIT is for anonymous callers, and
    a site's back end may share its address with others, as behind a proxy).
    """
    proxies = parse_networks(settings.trusted_proxies)
    limiter = RateLimiter(make_storage(settings.rate_limit_storage), clock)
    auth = ApiKeyAuth(settings.api_keys)

    def key_label(req) -> str | None:
        return req.context.api_key.label if req.context.api_key is not None else None

    def anonymous_ip(req) -> str | None:
        presented = presented_key(req)
        if presented and auth.match(presented) is not None:
            return None
        return client_ip(req, proxies)

    return [OriginCheck(origins)], [
        RateLimit(limiter, parse_rate_limit(settings.rate_limit), "ip", anonymous_ip),
        auth,
        RateLimit(limiter, parse_rate_limit(settings.rate_limit_per_key), "key", key_label),
    ]


def mail_policy(settings: Settings) -> MailPolicy:
    return MailPolicy(settings.sender_domains, settings.allowed_recipients)


def form_protection(
    settings: Settings, clock: Callable[[], float] = time.time
) -> tuple[RateLimit, Callable]:
    """For the public forms: RATE_LIMIT counted per form and client IP, and the client's IP.

    The forms' resource calls ``enforce(req, "<form>:<ip>")`` itself; the API key middleware
    and its per-key limit do not apply to forms.
    """
    proxies = parse_networks(settings.trusted_proxies)
    limiter = RateLimiter(make_storage(settings.rate_limit_storage), clock)
    rate_limit = RateLimit(limiter, parse_rate_limit(settings.rate_limit), "form", lambda req: None)
    return rate_limit, lambda req: client_ip(req, proxies)
