"""The DNS records a domain publishes for its mail (SPF, DKIM, DMARC), and a check of them.

``dinky-mail dns`` prints them in zone-file form; ``--check`` looks each one up (dnspython,
with a timeout) and says which are missing or differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dns.exception
import dns.resolver

from .log_lines import printable
from .mail.dkim import SigningKey, load_key

TTL = 3600
GMAIL_SPF = "include:_spf.google.com"
MAX_STRING = 255  # one character-string of a TXT record (RFC 1035 §3.3)
MAX_SHOWN = 300  # characters of a published record shown on a --check line


@dataclass(frozen=True)
class Record:
    kind: str  # SPF, DKIM or DMARC
    name: str  # fully qualified, with the final dot
    value: str
    note: str  # why this value: printed as a zone-file comment above the record

    def zone_line(self) -> str:
        return f"{self.name} {TTL} IN TXT {quoted_strings(self.value)}"


def quoted_strings(value: str) -> str:
    """``value`` as TXT character-strings of at most 255 characters, on one line."""
    chunks = [value[i : i + MAX_STRING] for i in range(0, len(value), MAX_STRING)] or [""]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def spf_record(settings) -> Record:
    """SPF for the way mail leaves: through the relay (Gmail's include), or from this server."""
    relay = outgoing_relay(settings)
    if relay is None:
        host = settings.mail_hostname
        mechanisms = "a mx" if host == settings.mail_domain else f"a:{host} mx"
        note = (
            f"SPF: assumes Postfix delivers directly from the address of {host} "
            "(MAIL_HOSTNAME) or of the domain's MX hosts"
        )
    elif relay == "smtp.gmail.com":
        mechanisms = GMAIL_SPF
        note = "SPF: mail leaves through Gmail (SMTP_RELAY_HOST=smtp.gmail.com)"
    else:
        mechanisms = f"a:{relay}"
        note = (
            f"SPF: assumes mail leaves from the address of {relay} (SMTP_RELAY_HOST); "
            "if your provider documents an include: for SPF, use that instead"
        )
    return Record("SPF", f"{settings.mail_domain}.", f"v=spf1 {mechanisms} ~all", note)


def outgoing_relay(settings) -> str | None:
    """The host mail leaves through, or None when Postfix delivers directly.

    The gmail/relay transport uses SMTP_RELAY_HOST; Postfix relays to it only when it is set,
    or when a login is (then Gmail by default), as compose/mail-server/configure-postfix does.
    """
    names = settings.transport_names
    if "gmail" in names or "relay" in names:
        return settings.smtp_relay_host.lower()
    explicit = settings.get("SMTP_RELAY_HOST") or settings.get("RELAY_HOST")
    if explicit or settings.smtp_relay_username:
        return settings.smtp_relay_host.lower()
    return None


def dkim_record(settings, key: SigningKey) -> Record:
    name = f"{settings.dkim_selector}._domainkey.{settings.dkim_domain}."
    note = f"DKIM: the public half of DKIM_PRIVATE_KEY_FILE ({key.kind}), selector {settings.dkim_selector}"
    return Record("DKIM", name, key.record, note)


def dmarc_record(settings) -> Record:
    reports = settings.bounce_address or f"postmaster@{settings.mail_domain}"
    note = (
        f"DMARC: p=none only asks receivers for reports (sent to {reports}); once they show "
        "your mail passing SPF or DKIM, raise it to p=quarantine, then p=reject"
    )
    return Record(
        "DMARC", f"_dmarc.{settings.mail_domain}.", f"v=DMARC1; p=none; rua=mailto:{reports}", note
    )


def records(settings) -> list[Record]:
    """SPF, DKIM (when a key is configured) and DMARC for ``settings``."""
    found = [spf_record(settings)]
    if settings.dkim_private_key_file is not None:
        found.append(dkim_record(settings, load_key(settings.dkim_private_key_file)))
    found.append(dmarc_record(settings))
    return found


def zone_text(settings) -> str:
    lines = []
    for record in records(settings):
        lines += [f"; {record.note}", record.zone_line()]
    if settings.dkim_private_key_file is None:
        lines.insert(
            2, "; DKIM: no DKIM_PRIVATE_KEY_FILE; make a key with `dinky-mail dkim-keygen PATH`"
        )
    return "\n".join(lines) + "\n"


# --- --check ------------------------------------------------------------------------------------


def make_resolver(server: str | None, timeout: float) -> dns.resolver.Resolver:
    """The system's resolver, or ``server`` (``HOST`` or ``HOST:PORT``; ``[v6]:PORT``)."""
    if server is None:
        resolver = dns.resolver.Resolver()
    else:
        match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?", server)
        if match is None:
            raise ValueError(f"--server {server!r} is not HOST or HOST:PORT")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [match.group(1) or match.group(3)]
        resolver.port = int(match.group(2) or match.group(4) or 53)
    resolver.lifetime = timeout
    return resolver


def published_texts(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT records at ``name``, each joined from its strings; [] when there are none."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _tags(text: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {k.strip().lower(): "".join(v.split()) for k, v in pairs}


def verdict(record: Record, published: list[str]) -> tuple[str, str]:
    """("ok" | "MISSING" | "DIFFERS", what was found) for one record."""
    prefix = {"SPF": "v=spf1", "DKIM": "v=DKIM1", "DMARC": "v=DMARC1"}[record.kind].lower()
    candidates = [text for text in published if text.lower().startswith(prefix)]
    if record.kind == "DKIM":  # a key record may omit v=DKIM1
        candidates = [text for text in published if "p=" in text]
    if not candidates:
        return "MISSING", ""
    if len(candidates) > 1:
        return "DIFFERS", f"{len(candidates)} records where there must be one"
    text = candidates[0]
    if record.kind == "SPF":
        words = text.lower().split()
        lacking = [term for term in record.value.split()[1:-1] if term not in words]
        return ("DIFFERS", f"lacks {' '.join(lacking)}: {text}") if lacking else ("ok", text)
    if record.kind == "DKIM":
        wanted, found = _tags(record.value), _tags(text)
        same = found.get("p") == wanted["p"] and found.get("k", "rsa") == wanted["k"]
        return ("ok", "the key matches") if same else ("DIFFERS", "another key is published")
    return "ok", text  # any DMARC policy the owner chose is theirs


def shown(text: str) -> str:
    """What a name server published, as a terminal can show it: whoever controls the zone or
    the answer wrote it, so an escape sequence or a carriage return (which could paint "ok"
    over DIFFERS) is written escaped, and a record of kilobytes is cut."""
    text = printable(text)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"... ({len(text):,} characters)"


def check(settings, resolver: dns.resolver.Resolver) -> tuple[list[str], bool]:
    """One line per record, and whether all are published as printed."""
    lines, good = [], True
    for record in records(settings):
        try:
            status, found = verdict(record, published_texts(resolver, record.name))
        except dns.exception.Timeout:
            status, found = "UNKNOWN", f"no answer within {resolver.lifetime:g} s"
        except dns.exception.DNSException as exc:
            status, found = "UNKNOWN", f"lookup failed: {exc}"
        good = good and status == "ok"
        found = shown(found)
        line = f"{status:<8}{record.kind:<6}{record.name}"
        lines.append(f"{line}  {found}" if found else line)
    return lines, good
