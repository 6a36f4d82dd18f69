"""The parsers Settings needs: API keys, networks, host names, domains, recipient rules and
rate limits, each from its variable's text to a value, or a ValueError saying why not.

Only the standard library and the mail room's address parser: loading the configuration
imports no web framework (``limits`` is imported when a rate limit is parsed).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import idna  # email-validator's own IDNA library: host names spelled as its addresses are

from ..mail.addresses import AddressError, parse_mailbox

if TYPE_CHECKING:
    from limits import RateLimitItem

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MIN_KEY_LENGTH = 16


_LABEL = re.compile(r"[A-Za-z0-9_]{1,32}")


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


def parse_token(text: str) -> str:
    """A bearer token (METRICS_TOKEN): as long as an API key must be, or empty (none)."""
    if text and len(text) < MIN_KEY_LENGTH:
        raise ValueError(f"shorter than {MIN_KEY_LENGTH} characters")
    return text


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


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """TRUSTED_PROXIES entries (``10.0.0.0/8``, ``172.18.0.2``) -> networks; ValueError if bad."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


_HOST_PORT = re.compile(r"(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>[^:]*))?")


def ascii_hostname(text: str) -> str:
    """A host name as DNS and browsers spell it (IDNA, lower case), or an IP address;
    ValueError says why ``text`` is neither (``999.1.1.1``, ``mail host``, ``*.example.com``)."""
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if text.replace(".", "").isdigit():
        raise ValueError(f"{text!r} is not an IP address")
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{text!r} is not a host name ({exc})") from None


def parse_allowed_hosts(entries) -> tuple[str, ...]:
    """ALLOWED_HOSTS checked and spelled as browsers send Origin: ``*``, bare ``host[:port]``
    entries and ``http(s)://host[:port]`` origins; ValueError names a bad entry."""
    return tuple(entry if entry == "*" else _allowed_host(entry) for entry in entries)


def _allowed_host(entry: str) -> str:
    if "*" in entry:
        # CORS matches whole origins; a pattern would need a matcher of its own for little gain.
        raise ValueError(
            f"{entry!r}: wildcards are not supported; list each host "
            "(example.com,www.example.com), or give * alone to allow every origin"
        )
    scheme, separator, rest = entry.rpartition("://")
    if separator and scheme.lower() not in ("http", "https"):
        raise ValueError(f"{entry!r}: an origin starts with http:// or https://")
    match = _HOST_PORT.fullmatch(rest.removesuffix("/"))
    if match is None or not match["host"]:
        raise ValueError(f"{entry!r} is not a host name, host:port or http(s)://host[:port] origin")
    host = ascii_hostname(match["host"])
    if ":" in host:
        host = f"[{host}]"
    port = match["port"]
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{entry!r}: the port {port!r} is not a number from 1 to 65535")
    spelled = host if port is None else f"{host}:{int(port)}"
    return f"{scheme.lower()}://{spelled}" if separator else spelled


def canonical_domain(domain: str, test_domains: bool = False) -> str:
    """A domain as the envelope holds it: IDNA-encoded (``bücher.example`` ->
    ``xn--bcher-kva.example``) and lower-case; ValueError says why it is not one.

    It is validated as the domain of an address, so a rule and the mail it judges are
    spelled the same way whichever form (Unicode or ``xn--``) either was written in.
    """
    try:
        return parse_mailbox(f"postmaster@{domain}", test_domains).domain.lower()
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


def parse_rate_limit(text: str) -> tuple[RateLimitItem, ...]:
    """``10/minute;100/hour`` -> limits; ``""`` or ``none`` -> none; ValueError when unreadable."""
    if text.strip().lower() in ("", "none", "off"):
        return ()
    from limits import parse_many  # here, not at the top: Settings loads without ``limits``

    limits = tuple(parse_many(text))
    if any(item.amount < 1 for item in limits):
        raise ValueError(f"{text!r} allows no request at all: use none to switch limits off")
    return limits
