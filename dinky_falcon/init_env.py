"""``dinky-mail init``: a commented ``.env`` (mode 600) from a few flags, with fresh secrets."""

from __future__ import annotations

import io
import os
import secrets
import sys

from dotenv import dotenv_values

from .config.settings import Settings
from .errors import ConfigError

# Characters that python-dotenv and Docker's env_file read differently (quotes, escapes,
# comments, interpolation) or that end a line: a value holding one is refused, never quoted.
UNSAFE = frozenset("\"'\\#$`\r\n")


def add_command(commands) -> None:
    """Register ``init`` on ``commands`` (the parser's subparsers)."""
    init = commands.add_parser(
        "init",
        help="write a commented .env (mode 600) with a new API key and FORMS_SECRET",
        description="Write a commented .env for the compose stack (or, with --dev, for local "
        "development) from these flags, with a newly generated API key and FORMS_SECRET. "
        "An existing file is never overwritten. The relay's App Password is not taken on the "
        "command line: paste it into the file, or pipe it in with --relay-password-stdin.",
        epilog="exit status: 0 written, 1 the file exists or cannot be written, "
        "2 a flag's value is not usable (nothing is written)",
    )
    init.add_argument("--dev", action="store_true", help="for local development: .eml files")
    init.add_argument("--domain", help="MAIL_DOMAIN, your domain (required without --dev)")
    init.add_argument("--from", dest="sender", help="DEFAULT_FROM (default: noreply@DOMAIN)")
    init.add_argument(
        "--recipient",
        action="append",
        default=[],
        help="an address (or @domain) mail may go to, repeatable: ALLOWED_RECIPIENTS "
        "(required without --dev; the smallest policy that works is the safest)",
    )
    init.add_argument(
        "--site",
        action="append",
        default=[],
        help="a website host whose pages may call the API (CORS, forms), repeatable: ALLOWED_HOSTS",
    )
    init.add_argument("--relay-host", default="smtp.gmail.com", help="SMTP_RELAY_HOST")
    init.add_argument("--relay-port", type=int, default=587, help="SMTP_RELAY_PORT")
    init.add_argument("--relay-username", default="", help="SMTP_RELAY_USERNAME (you@gmail.com)")
    init.add_argument(
        "--relay-password-stdin",
        action="store_true",
        help="read SMTP_RELAY_PASSWORD (the App Password) from the first line of stdin",
    )
    init.add_argument("--output", default=".env", help="the file to write (default: .env)")
    init.set_defaults(run=cmd_init, without_settings=True)


def cmd_init(args) -> int:
    if not args.dev and (not args.domain or not args.recipient):
        missing = [
            flag
            for flag, value in (("--domain", args.domain), ("--recipient", args.recipient))
            if not value
        ]
        print(
            f"dinky-mail init: {' and '.join(missing)} required for production "
            "(or --dev for local development)",
            file=sys.stderr,
        )
        return 2
    password = ""
    if args.relay_password_stdin:
        # Gmail shows App Passwords in groups of four: the spaces are not part of it.
        password = "".join(sys.stdin.readline().split())
    try:
        text = env_text(args, password)
    except ConfigError as exc:
        print(f"dinky-mail init: {exc} (nothing was written)", file=sys.stderr)
        return 2
    try:
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(
            f"dinky-mail init: {args.output} exists: it is never overwritten "
            "(edit it, or move it away first)",
            file=sys.stderr,
        )
        return 1
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # whatever the umask allowed
        file.write(text)
    print(next_steps(args, bool(password)))
    return 0


def env_text(args, password: str) -> str:
    """The file's text, checked by the service's own Settings; ConfigError says what is wrong."""
    values = {
        "MAIL_DOMAIN": args.domain or "",
        "DEFAULT_FROM": args.sender or "",
        "SMTP_RELAY_HOST": args.relay_host,
        "SMTP_RELAY_USERNAME": args.relay_username,
        "SMTP_RELAY_PASSWORD": password,
        "ALLOWED_RECIPIENTS": ",".join(args.recipient),
        "ALLOWED_HOSTS": ",".join(args.site),
    }
    for name, value in values.items():
        if UNSAFE.intersection(value) or value != value.strip():
            shown = "the password" if name == "SMTP_RELAY_PASSWORD" else repr(value)
            raise ConfigError(
                f"{name}: {shown} holds a quote, backslash, #, $, ` or line break, or "
                "surrounding spaces, which .env files do not carry alike everywhere"
            )
    text = (DEVELOPMENT if args.dev else PRODUCTION).format(
        **values,
        SMTP_RELAY_PORT=args.relay_port,
        API_KEY=secrets.token_urlsafe(32),
        FORMS_SECRET=secrets.token_urlsafe(32),
        DOMAIN_LINE=f"MAIL_DOMAIN={args.domain}" if args.domain else "#MAIL_DOMAIN=example.com",
        FROM_LINE=f"DEFAULT_FROM={args.sender}" if args.sender else "#DEFAULT_FROM=",
    )
    parsed = dotenv_values(stream=io.StringIO(text))
    Settings.from_env({k: v for k, v in parsed.items() if v is not None}, env_file=None)
    return text


def next_steps(args, has_password: bool) -> str:
    lines = [
        f"wrote {args.output} (mode 600, {'development' if args.dev else 'the compose stack'})",
        "The site's back end needs the API key: it is in that file, after API_KEYS=site: "
        "(not shown here, so it stays out of terminal logs); send it as "
        '"Authorization: Bearer KEY".',
        "Next steps:",
    ]
    # A recipient the written policy allows, when one was given.
    test_address = next((r for r in args.recipient if not r.startswith("@")), "you@example.com")
    if args.dev:
        lines += [
            "  1. dinky-mail serve   (in the folder where the file is named .env: the service "
            "reads .env from its working directory; every message lands in ./outbox)",
            f"  2. dinky-mail send-test {test_address}",
        ]
        return "\n".join(lines)
    step = 1
    if not has_password:
        lines.append(
            f"  {step}. Create a Gmail App Password (https://myaccount.google.com/apppasswords, "
            f"compose/README.md section 1) and paste it after SMTP_RELAY_PASSWORD= in {args.output}"
        )
        step += 1
    lines += [
        f"  {step}. docker network create traefik   (once, unless Traefik's network exists: "
        f"set TRAEFIK_NETWORK in {args.output} to its name)",
        f"  {step + 1}. docker-compose --env-file {args.output} "
        "-f compose/docker-compose.yml up -d --build",
        f"  {step + 2}. docker exec dinky_mail-api dinky-mail send-test {test_address}",
    ]
    return "\n".join(lines)


PRODUCTION = """\
# Written by `dinky-mail init` for the compose stack (compose/README.md). Every variable is
# described in .env.example. Keep this file mode 600: it holds the secrets below.
ENVIRONMENT=production
# Your domain: Message-IDs are made under it.
{DOMAIN_LINE}
# The sender when a request gives no "from". Default: noreply@MAIL_DOMAIN.
{FROM_LINE}

# --- The relay Postfix hands every message to (Gmail: smtp.gmail.com, port 587) ---------
SMTP_RELAY_HOST={SMTP_RELAY_HOST}
SMTP_RELAY_PORT={SMTP_RELAY_PORT}
SMTP_RELAY_USERNAME={SMTP_RELAY_USERNAME}
# A Gmail App Password (https://myaccount.google.com/apppasswords), never your account
# password; pasted with its spaces is fine. Empty until you paste it: nothing can be relayed.
SMTP_RELAY_PASSWORD={SMTP_RELAY_PASSWORD}

# --- Who may send, and to whom ----------------------------------------------------------
# The site's back end sends "Authorization: Bearer <the part after site:>". Generated by init;
# add more as label:KEY, comma-separated (one per site, so a leaked key is revoked alone).
API_KEYS=site:{API_KEY}
# The only recipients mail may go to (addresses or @domain, comma-separated): anyone else 403.
ALLOWED_RECIPIENTS={ALLOWED_RECIPIENTS}
# Website hosts whose pages may call the API from a browser (CORS, contact forms).
ALLOWED_HOSTS={ALLOWED_HOSTS}

# --- Contact forms (docs/forms.md) -------------------------------------------------------
# Signs the fill-time tokens of forms with FORM_<NAME>_MIN_SECONDS. Generated by init.
FORMS_SECRET={FORMS_SECRET}
# A form named "contact" mails its fields to FORM_CONTACT_TO (fixed here, never by visitors):
#FORM_CONTACT_TO={ALLOWED_RECIPIENTS}

# --- The stack ----------------------------------------------------------------------------
# The external Docker network Traefik watches, and its entrypoint for Host(`mail-api.local`).
TRAEFIK_NETWORK=traefik
TRAEFIK_ENTRYPOINT=https
ENABLE_TLS=true
"""

DEVELOPMENT = """\
# Written by `dinky-mail init --dev` for local development. Every variable is described in
# .env.example. Keep this file mode 600: it holds the secrets below.
# development: every message is written to OUTBOX_DIR as an .eml file; nothing is sent.
ENVIRONMENT=development
OUTBOX_DIR=./outbox
# Your domain: Message-IDs are made under it; DEFAULT_FROM defaults to noreply@ it.
{DOMAIN_LINE}
{FROM_LINE}

# --- Who may send, and to whom ----------------------------------------------------------
# Clients send "Authorization: Bearer <the part after site:>". Generated by init.
API_KEYS=site:{API_KEY}
# The only recipients mail may go to (addresses or @domain); empty: anyone.
ALLOWED_RECIPIENTS={ALLOWED_RECIPIENTS}
# Website hosts whose pages may call the API from a browser (e.g. localhost:8081).
ALLOWED_HOSTS={ALLOWED_HOSTS}
# Signs the fill-time tokens of contact forms (docs/forms.md). Generated by init.
FORMS_SECRET={FORMS_SECRET}
#FORM_CONTACT_TO=you@example.com

# --- To send for real from this machine: MAIL_TRANSPORT=gmail and the relay ---------------
#MAIL_TRANSPORT=gmail
SMTP_RELAY_HOST={SMTP_RELAY_HOST}
SMTP_RELAY_PORT={SMTP_RELAY_PORT}
SMTP_RELAY_USERNAME={SMTP_RELAY_USERNAME}
# A Gmail App Password (https://myaccount.google.com/apppasswords); empty until pasted.
SMTP_RELAY_PASSWORD={SMTP_RELAY_PASSWORD}
"""
