"""MAIL_DOMAIN and DEFAULT_FROM: the domain mail is sent from and its default sender, checked
at start; each error names the variable the user set (MAIL_DOMAIN when DEFAULT_FROM is the
``noreply@`` address derived from it)."""

from __future__ import annotations

from ..errors import ConfigError
from ..mail.addresses import AddressError, is_test_domain, parse_mailbox
from .parsers import canonical_domain

TEST_DOMAIN_HINT = (
    "a special-use name (RFC 2606/6761) that no mail can be delivered to; it is accepted only "
    "with ENVIRONMENT=development and a sink transport (MAIL_TRANSPORT=file or memory)"
)


def sender_settings(reader, environment: str, default_domain: str, test_domains: bool) -> dict:
    """mail_domain and default_from, as Settings holds them; ConfigError if unusable."""
    if environment == "production" and not reader.text("MAIL_DOMAIN"):
        raise ConfigError("MAIL_DOMAIN is required when ENVIRONMENT=production")
    domain = reader.text("MAIL_DOMAIN", default_domain).lower()
    if is_test_domain(domain) and not test_domains:
        raise ConfigError(f"MAIL_DOMAIN={domain!r} is {TEST_DOMAIN_HINT}")
    try:
        canonical_domain(domain, test_domains)
    except ValueError as exc:
        raise ConfigError(f"MAIL_DOMAIN: {exc}") from None
    if domain == "local" or domain.endswith(".local"):
        reader.warnings.append(
            f"MAIL_DOMAIN={domain!r}: .local belongs to multicast DNS (RFC 6762); fine for "
            "trying things out with the file sink, but choose .test or .localhost to be sure "
            "no program on this network answers for it"
        )
    explicit = reader.text("DEFAULT_FROM")
    default_from = explicit or f"noreply@{domain}"
    try:
        parse_mailbox(default_from, test_domains)
    except AddressError as exc:
        if not explicit:
            raise ConfigError(
                f"MAIL_DOMAIN={domain!r} gives no usable sender address ({default_from}): "
                f"{exc}; set DEFAULT_FROM, or another MAIL_DOMAIN"
            ) from None
        hint = TEST_DOMAIN_HINT if is_test_domain(default_from.rpartition("@")[2]) else exc
        raise ConfigError(
            f"DEFAULT_FROM={default_from!r} is not a usable address: {hint}"
        ) from None
    return dict(mail_domain=domain, default_from=default_from)
