"""Who a message may be from and to: the sender and recipient policies, checked on the envelope.

The envelope (built by mail/message.py) holds every address SMTP will see — To, Cc and Bcc alike —
so a field added to the request is covered without changing this module.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config.parsers import ApiKey, canonical_domain
from ..errors import PolicyRefused
from ..mail.message import Envelope


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def allowed(address: str, rules: tuple[str, ...]) -> bool:
    address = address.lower()
    return address in rules or "@" + domain_of(address) in rules


class MailPolicy:
    """Refuses (PolicyRefused, a 403 on the web) a sender outside the allowed domains and recipients outside the rules.

    ``recipients`` empty means any recipient; a key with its own rules uses them instead.
    """

    def __init__(
        self,
        sender_domains: Iterable[str],
        recipients: tuple[str, ...] = (),
        test_domains: bool = False,  # Settings.accepts_test_domains: MAIL_DOMAIN=shop.test
    ):
        self.sender_domains = frozenset(canonical_domain(d, test_domains) for d in sender_domains)
        self.recipients = recipients

    def check(self, envelope: Envelope, key: ApiKey | None = None) -> None:
        if domain_of(envelope.sender) not in self.sender_domains:
            raise PolicyRefused(
                "Sender not allowed",
                f"{envelope.sender} may not be used as the sender: mail can only be sent from "
                f"{', '.join(sorted(self.sender_domains))}.",
            )
        rules = self.recipients
        if key is not None and key.recipients is not None:
            rules = key.recipients
        if not rules:
            return
        refused = [address for address in envelope.recipients if not allowed(address, rules)]
        if refused:
            raise PolicyRefused(
                "Recipient not allowed",
                f"Mail to {', '.join(refused)} is not allowed by this service's recipient policy.",
            )
