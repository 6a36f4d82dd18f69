"""Settings for mail from the operator's own domain: the DKIM key and the envelope sender."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from ..errors import ConfigError
from ..mail.addresses import parse_mailbox
from ..mail.dkim import load_key
from .parsers import canonical_domain

DEFAULT_SELECTOR = "mail"
_DNS_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def own_domain_settings(reader, mail_domain: str, test_domains: bool = False) -> dict:
    """DKIM_PRIVATE_KEY_FILE, DKIM_SELECTOR, DKIM_DOMAIN and BOUNCE_ADDRESS, checked; a warning
    on ``reader`` when bounces would not align with MAIL_DOMAIN. ``test_domains``: as for
    MAIL_DOMAIN (config/sender.py), so that a domain MAIL_DOMAIN passed passes here too."""
    key_file = reader.text("DKIM_PRIVATE_KEY_FILE")
    if key_file:
        reader.parsed("DKIM_PRIVATE_KEY_FILE", load_key, key_file)  # read again by the Mailer
    selector = reader.text("DKIM_SELECTOR", DEFAULT_SELECTOR).lower()
    if not _DNS_NAME.fullmatch(selector):
        raise ConfigError(
            f"DKIM_SELECTOR={selector!r} is not a DNS name (letters, digits, - and .)"
        )
    bounce = reader.text("BOUNCE_ADDRESS")
    if bounce:
        address = reader.parsed(
            "BOUNCE_ADDRESS", partial(parse_mailbox, test_domains=test_domains), bounce
        )
        if address.display_name or not address.username.isascii():
            raise ConfigError(
                f"BOUNCE_ADDRESS={bounce!r} must be a bare ASCII address (a@example.org)"
            )
        bounce = address.addr_spec
        if not _same_organisation(address.domain.lower(), mail_domain):
            reader.warnings.append(
                f"BOUNCE_ADDRESS is not under {mail_domain}: SPF passes for its domain, not "
                "for the From domain, so DMARC must rely on DKIM alone (docs/domain.md)"
            )
    dkim_domain = reader.text("DKIM_DOMAIN", mail_domain)
    return dict(
        dkim_private_key_file=Path(key_file) if key_file else None,
        dkim_selector=selector,
        dkim_domain=reader.parsed(
            "DKIM_DOMAIN", partial(canonical_domain, test_domains=test_domains), dkim_domain
        ),
        bounce_address=bounce,
    )


def _same_organisation(a: str, b: str) -> bool:
    """DMARC's relaxed alignment, short of the public suffix list: one is the other or under it."""
    return a == b or a.endswith("." + b) or b.endswith("." + a)
