"""``dinky-mail dkim-keygen`` and ``dinky-mail dns``: what sending from your own domain needs."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from .mail.dkim import KEY_TYPES, write_new_key


def add_commands(commands) -> None:
    """Register the commands on ``commands`` (the parser's subparsers)."""
    keygen = commands.add_parser(
        "dkim-keygen", help="write a new DKIM private key (mode 600) and print its DNS record"
    )
    keygen.add_argument("path", metavar="PATH", help="where to write the key; never overwritten")
    keygen.add_argument(
        "--type",
        choices=KEY_TYPES,
        default="rsa",
        help="rsa (2048 bits, what every receiver checks; default) or ed25519",
    )
    keygen.add_argument("--selector", help="the DKIM selector (default: DKIM_SELECTOR or mail)")
    # The key may not exist yet although DKIM_PRIVATE_KEY_FILE already names it.
    keygen.set_defaults(run=cmd_dkim_keygen, ignores_key_file=True)
    dns = commands.add_parser(
        "dns", help="print the SPF, DKIM and DMARC records to publish (--check: look them up)"
    )
    dns.add_argument("--check", action="store_true", help="look the records up and compare")
    dns.add_argument(
        "--server", help="DNS server to ask, HOST or HOST:PORT (default: the system's)"
    )
    dns.add_argument(
        "--timeout", type=float, default=5.0, help="seconds for each lookup (default 5)"
    )
    dns.set_defaults(run=cmd_dns)


def environment_for(args: argparse.Namespace) -> dict[str, str] | None:
    """The environment to read the settings from: None (as it is) unless the command makes
    the key DKIM_PRIVATE_KEY_FILE names, which must not be read first."""
    if getattr(args, "ignores_key_file", False):
        return {**os.environ, "DKIM_PRIVATE_KEY_FILE": ""}
    return None


def cmd_dkim_keygen(settings, args) -> int:
    selector = (args.selector or settings.dkim_selector).lower()
    try:
        key = write_new_key(args.path, args.type)
    except FileExistsError:
        print(
            f"dinky-mail: {args.path} exists: it is never overwritten (move it away first)",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:  # no such folder, no permission: said in one line, no traceback
        print(f"dinky-mail: cannot write {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    from . import dns_records  # dnspython costs 2-3 MB: imported by the commands that use it

    record = dns_records.dkim_record(dataclasses.replace(settings, dkim_selector=selector), key)
    print(f"; wrote a new {args.type} key to {args.path} (mode 600); publish this record:")
    print(record.zone_line())
    print(
        f"; then set DKIM_PRIVATE_KEY_FILE={args.path} DKIM_SELECTOR={selector}"
        f" (DKIM_DOMAIN={settings.dkim_domain}); `dinky-mail dns --check` says when it is live"
    )
    return 0


def cmd_dns(settings, args) -> int:
    from . import dns_records

    if not args.check:
        print(dns_records.zone_text(settings), end="")
        return 0
    try:
        resolver = dns_records.make_resolver(args.server, args.timeout)
    except ValueError as exc:
        print(f"dinky-mail: {exc}", file=sys.stderr)
        return 2
    lines, good = dns_records.check(settings, resolver)
    print("\n".join(lines))
    if not good:
        print(
            "; publish what is missing or differs as `dinky-mail dns` prints it "
            "(DNS changes can take up to the record's TTL to be seen)"
        )
    return 0 if good else 1
