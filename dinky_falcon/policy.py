"""Who a message may be from and to: the sender and recipient policies, checked on the envelope.

The envelope (built by message.py) holds every address SMTP will see — To, Cc and Bcc alike —
so a field added to the request is covered without changing this module.
"""

from __future__ import annotations

from collections.abc import Iterable

import falcon

from .addresses import AddressError, parse_mailbox
from .auth import ApiKey
from .http_errors import ApiError
from .message import Envelope


def canonical_domain(domain: str) -> str:
    """A domain as the envelope holds it: IDNA-encoded (``bücher.example`` ->
    ``xn--bcher-kva.example``) and lower-case; ValueError says why it is not one.

    It is validated as the domain of an address, so a rule and the mail it judges are
    spelled the same way whichever form (Unicode or ``xn--``) either was written in.
    """
    try:
        return parse_mailbox(f"postmaster@{domain}").domain.lower()
    except AddressError as exc:
        raise ValueError(f"{domain!r} is not a domain: {exc}") from None


def parse_domains(entries: Iterable[str]) -> tuple[str, ...]:
    """Domains, each with or without a leading ``@`` (as in ALLOWED_RECIPIENTS), canonical."""
    return tuple(canonical_domain(entry.removeprefix("@")) for entry in entries)


def parse_recipient_rules(entries: Iterable[str]) -> tuple[str, ...]:
    """Addresses and ``@domain`` entries, canonical; ValueError names a bad entry."""
    rules = []
    for entry in entries:
        if entry.startswith("@"):
            try:
                rules.append("@" + canonical_domain(entry[1:]))
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an @domain entry: {exc}") from None
        else:
            try:
                rules.append(parse_mailbox(entry).addr_spec.lower())
            except AddressError as exc:
                raise ValueError(
                    f"{entry!r} is not an address or an @domain entry: {exc}"
                ) from None
    return tuple(rules)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def allowed(address: str, rules: tuple[str, ...]) -> bool:
    address = address.lower()
    return address in rules or "@" + domain_of(address) in rules


class MailPolicy:
    """Refuses (403) a sender outside the allowed domains and recipients outside the rules.

    ``recipients`` empty means any recipient; a key with its own rules uses them instead.
    """

    def __init__(self, sender_domains: Iterable[str], recipients: tuple[str, ...] = ()):
        self.sender_domains = frozenset(canonical_domain(d) for d in sender_domains)
        self.recipients = recipients

    def check(self, envelope: Envelope, key: ApiKey | None = None) -> None:
        if domain_of(envelope.sender) not in self.sender_domains:
            raise ApiError(
                falcon.HTTP_403,
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
            raise ApiError(
                falcon.HTTP_403,
                "Recipient not allowed",
                f"Mail to {', '.join(refused)} is not allowed by this service's recipient policy.",
            )
