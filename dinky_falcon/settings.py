"""Settings: read once from the environment (and a ``.env`` file), validated at start.

Every variable is documented in ``.env.example``. A bad value raises ConfigError with one line
naming the variable, so the service stops at start instead of failing at the first message.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .addresses import AddressError, parse_mailbox
from .auth import ApiKey, parse_api_keys
from .clientip import parse_networks
from .errors import ConfigError
from .forms import Form, describe_form, load_forms
from .mail.dkim import load_key
from .origin import ascii_hostname, parse_allowed_hosts
from .policy import canonical_domain, parse_domains, parse_recipient_rules
from .ratelimit import parse_rate_limit
from .redact import redact_url

TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})

# (legacy name, current name): the legacy one still works, with a warning.
LEGACY_NAMES = (
    ("RELAY_HOST", "SMTP_RELAY_HOST"),
    ("RELAY_PORT", "SMTP_RELAY_PORT"),
    ("RELAY_USERNAME", "SMTP_RELAY_USERNAME"),
    ("RELAY_PASSWORD", "SMTP_RELAY_PASSWORD"),
)

DEFAULT_TRANSPORT = {"development": "file", "production": "postfix"}
# Built-in transports that deliver nothing: every other one sends real mail.
SINKS = frozenset({"file", "memory"})
# Development listens on loopback only: a laptop on a café's network is no mail relay.
DEFAULT_HOST = {"development": "127.0.0.1", "production": "0.0.0.0"}
# Production refuses floods unless told otherwise; development counts nothing.
SEND_DEADLINE_FACTOR = 3  # a whole SMTP send: greeting, TLS, AUTH, the transaction
DEFAULT_RATE_LIMIT = {"development": "none", "production": "10/minute;100/hour"}
# A key is a site's back end, not an anonymous caller: 60 messages a minute sustained.
DEFAULT_RATE_LIMIT_PER_KEY = {"development": "none", "production": "120/minute;3600/hour"}


@dataclass(frozen=True)
class Settings:
    """The effective configuration. Field names are the variable names in lower case."""

    environment: str = "production"
    mail_domain: str = "example.com"
    mail_hostname: str = ""
    default_from: str = ""
    mail_transport: tuple[str, ...] = ()
    smtp_host: str = "mail-server"
    smtp_port: int = 25
    smtp_relay_host: str = "smtp.gmail.com"
    smtp_relay_port: int = 587
    smtp_relay_username: str = ""
    smtp_relay_password: str = ""
    use_tls: bool = True
    tls_verify: bool = True
    smtp_timeout: float = 10.0
    smtp_reuse_connections: bool = True
    outbox_dir: Path = Path("outbox")
    host: str = "0.0.0.0"
    port: int = 20001
    threads: int = 8
    allowed_hosts: tuple[str, ...] = ()
    max_body_size: int = 1024 * 1024
    max_recipients: int = 50
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 20
    data_dir: Path = Path("data")
    idempotency_store: str = ""
    idempotency_ttl: int = 24 * 3600
    plugins_dir: Path | None = None
    disabled_plugins: tuple[str, ...] = ()
    trace_plugins: bool = False
    log_level: str = "INFO"
    log_format: str = "text"  # or json: one JSON object per line
    metrics_token: str = ""  # a bearer token for GET /metrics, besides the API keys
    outbox_ui: bool = False  # /outbox in production too (API key required)
    traefik_entrypoint: str = "https"
    enable_tls: bool = True
    # Abuse protection (dinky_falcon/auth.py, policy.py, origin.py, ratelimit.py).
    api_keys: tuple[ApiKey, ...] = ()
    allowed_recipients: tuple[str, ...] = ()
    allowed_sender_domains: tuple[str, ...] = ()
    rate_limit: str = "none"
    rate_limit_per_key: str = "none"
    rate_limit_storage: str = "memory://"
    trusted_proxies: tuple[str, ...] = ()
    client_timeout: int = 30
    receive_timeout: int = 60  # seconds for a whole request to arrive (server.py)
    # Contact forms (dinky_falcon/forms.py, form_resource.py).
    forms_file: str = ""
    forms_secret: str = ""
    forms: tuple[Form, ...] = ()
    # Your own domain (docs/domain.md, dinky_falcon/mail/dkim.py): DKIM and the envelope sender.
    dkim_private_key_file: Path | None = None
    dkim_selector: str = "mail"
    dkim_domain: str = ""
    bounce_address: str = ""
    # Every variable seen (process environment over .env), for plugins' own settings.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # What was accepted but deserves a word in the log at start.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    SECRETS = frozenset(
        {"smtp_relay_password", "api_keys", "rate_limit_storage", "idempotency_store",
         "forms_secret", "metrics_token"}
    )

    def __repr__(self) -> str:
        # Plugins get the settings and may log them: secrets as ``dinky-mail config`` shows them.
        shown = []
        for f in dataclasses.fields(self):
            if f.repr:
                value = getattr(self, f.name)
                value = _redact(f.name, value) if f.name in self.SECRETS else value
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def sender_domains(self) -> tuple[str, ...]:
        """Domains a message may be sent from: MAIL_DOMAIN, DEFAULT_FROM's, and the allowed."""
        default_domain = parse_mailbox(self.default_from).domain.lower()
        return (self.mail_domain, default_domain, *self.allowed_sender_domains)

    @property
    def send_deadline(self) -> float:
        """Seconds a whole SMTP send may take, every wait of it bounded by SMTP_TIMEOUT."""
        return SEND_DEADLINE_FACTOR * self.smtp_timeout

    @property
    def transport_names(self) -> tuple[str, ...]:
        return self.mail_transport or (DEFAULT_TRANSPORT[self.environment],)

    def get(self, name: str, default: str | None = None) -> str | None:
        """A variable by name, for plugins that read settings of their own."""
        return self.environ.get(name, default)

    def redacted(self) -> dict[str, str]:
        """The settings as VARIABLE -> text, secrets shown as ``***`` (``dinky-mail config``)."""
        shown = {}
        for f in dataclasses.fields(self):
            if f.name in ("environ", "warnings", "forms"):
                continue
            value = getattr(self, f.name)
            if f.name in self.SECRETS:
                text = _redact(f.name, value)
            elif isinstance(value, bool):
                text = "yes" if value else "no"
            elif isinstance(value, tuple):
                text = ",".join(value)
            elif value is None:
                text = ""
            else:
                text = str(value)
            shown[f.name.upper()] = text
        for key in self.api_keys:
            if key.recipients is not None:
                shown[key.variable] = ",".join(key.recipients)
        for form in self.forms:
            shown.update(describe_form(form))
        return shown

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Read the settings; ``environ`` defaults to os.environ, and wins over ``env_file``."""
        merged: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        return _Reader(merged).settings()


def _same_organisation(a: str, b: str) -> bool:
    """DMARC's relaxed alignment, short of the public suffix list: one is the other or under it."""
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _redact(name: str, value) -> str:
    """A secret for display: API keys by label, the storage URL without credentials, or ``***``."""
    if not value:
        return ""
    if name == "api_keys":
        return ",".join(f"{key.label}:***" for key in value)
    if name in ("rate_limit_storage", "idempotency_store"):
        return redact_url(value)
    return "***"


class _Reader:
    """Turns a mapping of variables into Settings, collecting warnings on the way."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.warnings: list[str] = []

    def text(self, name: str, default: str = "") -> str:
        value = self.env.get(name, "").strip()
        return value or default

    def renamed(self, old: str, new: str, default: str = "") -> str:
        if self.env.get(old, "").strip():
            if self.env.get(new, "").strip():
                self.warnings.append(f"{old} is ignored because {new} is set")
            else:
                self.warnings.append(f"{old} is deprecated: rename it to {new}")
                return self.text(old, default)
        return self.text(new, default)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if not value:
            return default
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean: use yes/no, true/false or 1/0")

    def number(self, name: str, default: float, kind=int, low=1, high=None, value=None):
        value = self.text(name) if value is None else value
        if not value:
            return default
        try:
            number = kind(value)
        except ValueError:
            number = None
        # nan compares false with everything, so it would pass both bounds: refused first.
        if number is None or not math.isfinite(number) or number < low or (
            high is not None and number > high
        ):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            article = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{name}={value!r} is not {article} {bounds}")
        return number

    def port(self, name: str, default: int, legacy: str | None = None) -> int:
        value = self.renamed(legacy, name) if legacy else self.text(name)
        return self.number(name, default, int, 1, 65535, value=value)

    def words(self, name: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in self.text(name).split(",") if w.strip())

    def choice(self, name: str, default: str, allowed) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} must be one of: {', '.join(sorted(allowed))}")
        return value

    def app_password(self) -> str:
        password = self.renamed("RELAY_PASSWORD", "SMTP_RELAY_PASSWORD")
        squeezed = "".join(password.split())
        if squeezed != password:
            self.warnings.append(
                "SMTP_RELAY_PASSWORD contained spaces; they were removed "
                "(Gmail shows App Passwords in groups of four)"
            )
        return self.sendable_credential("SMTP_RELAY_PASSWORD", squeezed)

    @staticmethod
    def sendable_credential(name: str, value: str) -> str:
        """``value`` when SMTP AUTH can send it: smtplib encodes the login as ASCII and would
        fail at the first message (never naming a character of it here: it may be a secret)."""
        if not all(" " <= c <= "~" for c in value):
            raise ConfigError(
                f"{name} holds a character outside printable ASCII, which SMTP AUTH cannot "
                "send: check it was copied without accents, curly quotes or invisible characters"
            )
        return value

    def host_name(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            return ascii_hostname(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def parsed(self, name: str, parse, value=None):
        """``parse(value)`` with its ValueError turned into a ConfigError naming ``name``."""
        value = self.text(name) if value is None else value
        try:
            return parse(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def api_keys(self) -> tuple[ApiKey, ...]:
        keys = self.parsed("API_KEYS", parse_api_keys)
        bound = []
        for key in keys:
            rules = self.parsed(key.variable, parse_recipient_rules, self.words(key.variable))
            bound.append(dataclasses.replace(key, recipients=rules or None))
        known = {key.variable for key in keys}
        for name in self.env:
            if name.startswith("API_KEY_RECIPIENTS_") and name not in known and self.text(name):
                raise ConfigError(f"{name} names no key: API_KEYS has no such label")
        return tuple(bound)

    def abuse_protection(self, environment: str) -> dict:
        rate_limit = self.text("RATE_LIMIT", DEFAULT_RATE_LIMIT[environment])
        rate_limit_per_key = self.text("RATE_LIMIT_PER_KEY", DEFAULT_RATE_LIMIT_PER_KEY[environment])
        for name, value in (("RATE_LIMIT", rate_limit), ("RATE_LIMIT_PER_KEY", rate_limit_per_key)):
            self.parsed(name, parse_rate_limit, value)
        trusted_proxies = self.words("TRUSTED_PROXIES")
        self.parsed("TRUSTED_PROXIES", parse_networks, trusted_proxies)
        values = dict(
            api_keys=self.api_keys(),
            allowed_recipients=self.parsed(
                "ALLOWED_RECIPIENTS", parse_recipient_rules, self.words("ALLOWED_RECIPIENTS")
            ),
            allowed_sender_domains=self.parsed(
                "ALLOWED_SENDER_DOMAINS", parse_domains, self.words("ALLOWED_SENDER_DOMAINS")
            ),
            rate_limit=rate_limit,
            rate_limit_per_key=rate_limit_per_key,
            rate_limit_storage=self.text("RATE_LIMIT_STORAGE", Settings.rate_limit_storage),
            trusted_proxies=trusted_proxies,
            client_timeout=self.number("CLIENT_TIMEOUT", Settings.client_timeout, int, 1, 3600),
            receive_timeout=self.number("RECEIVE_TIMEOUT", Settings.receive_timeout, int, 1, 3600),
        )
        return values

    def warn_if_open_relay(self, settings: Settings) -> None:
        """Anyone who reaches a service with neither keys nor recipient rules sends real mail:
        in production, and in development as soon as a transport delivers (not a sink)."""
        if settings.api_keys or settings.allowed_recipients:
            return
        if settings.environment == "production" or not SINKS.issuperset(settings.transport_names):
            self.warnings.append(
                "SECURITY: neither API_KEYS nor ALLOWED_RECIPIENTS is set, so anyone who can reach "
                f"this service (on {settings.host}:{settings.port}) can send mail from your domain "
                "to anyone. Set API_KEYS, ALLOWED_RECIPIENTS or both (docs/security.md)."
            )

    def idempotency_store(self) -> str:
        url = self.text("IDEMPOTENCY_STORE")
        if url and url.split("://", 1)[0].lower() not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"IDEMPOTENCY_STORE={redact_url(url)!r} must be empty (a file under DATA_DIR) "
                "or a Redis URL (redis://host:6379/0)"
            )
        return url

    def forms(self) -> dict:
        forms_file = self.text("FORMS_FILE")
        try:
            forms = load_forms(self.env, forms_file)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        secret = self.text("FORMS_SECRET")
        if secret and len(secret) < 16:
            raise ConfigError("FORMS_SECRET is shorter than 16 characters")
        timed = [form.name for form in forms if form.min_seconds]
        if timed and not secret:
            raise ConfigError(
                f"form {timed[0]!r} has a minimum fill time: set FORMS_SECRET to sign its tokens"
            )
        return dict(forms_file=forms_file, forms_secret=secret, forms=forms)

    def own_domain(self, mail_domain: str) -> dict:
        key_file = self.text("DKIM_PRIVATE_KEY_FILE")
        if key_file:
            self.parsed("DKIM_PRIVATE_KEY_FILE", load_key, key_file)  # read again by the Mailer
        selector = self.text("DKIM_SELECTOR", Settings.dkim_selector).lower()
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*", selector):
            raise ConfigError(f"DKIM_SELECTOR={selector!r} is not a DNS name (letters, digits, - and .)")
        bounce = self.text("BOUNCE_ADDRESS")
        if bounce:
            address = self.parsed("BOUNCE_ADDRESS", parse_mailbox, bounce)
            if address.display_name or not address.username.isascii():
                raise ConfigError(f"BOUNCE_ADDRESS={bounce!r} must be a bare ASCII address (a@example.org)")
            bounce = address.addr_spec
            if not _same_organisation(address.domain.lower(), mail_domain):
                self.warnings.append(
                    f"BOUNCE_ADDRESS is not under {mail_domain}: SPF passes for its domain, not "
                    "for the From domain, so DMARC must rely on DKIM alone (docs/domain.md)"
                )
        return dict(
            dkim_private_key_file=Path(key_file) if key_file else None,
            dkim_selector=selector,
            dkim_domain=self.parsed("DKIM_DOMAIN", canonical_domain, self.text("DKIM_DOMAIN", mail_domain)),
            bounce_address=bounce,
        )

    def settings(self) -> Settings:
        environment = self.choice("ENVIRONMENT", "production", DEFAULT_TRANSPORT)
        if environment == "production" and not self.text("MAIL_DOMAIN"):
            raise ConfigError("MAIL_DOMAIN is required when ENVIRONMENT=production")
        domain = self.text("MAIL_DOMAIN", Settings.mail_domain).lower()
        self.parsed("MAIL_DOMAIN", canonical_domain, domain)
        default_from = self.text("DEFAULT_FROM", f"noreply@{domain}")
        try:
            parse_mailbox(default_from)
        except AddressError as exc:
            raise ConfigError(f"DEFAULT_FROM={default_from!r} is not a usable address: {exc}")
        plugins_dir = self.text("PLUGINS_DIR")
        if plugins_dir and not Path(plugins_dir).is_dir():
            raise ConfigError(f"PLUGINS_DIR={plugins_dir!r} is not a directory")
        if not plugins_dir and Path("plugins").is_dir():
            plugins_dir = "plugins"
        values = dict(
            environment=environment,
            mail_domain=domain,
            mail_hostname=self.host_name("MAIL_HOSTNAME", domain),
            default_from=default_from,
            mail_transport=tuple(w.lower() for w in self.words("MAIL_TRANSPORT")),
            smtp_host=self.text("SMTP_HOST", Settings.smtp_host),
            smtp_port=self.port("SMTP_PORT", Settings.smtp_port),
            smtp_relay_host=self.renamed("RELAY_HOST", "SMTP_RELAY_HOST", Settings.smtp_relay_host),
            smtp_relay_port=self.port("SMTP_RELAY_PORT", Settings.smtp_relay_port, "RELAY_PORT"),
            smtp_relay_username=self.sendable_credential(
                "SMTP_RELAY_USERNAME", self.renamed("RELAY_USERNAME", "SMTP_RELAY_USERNAME")
            ),
            smtp_relay_password=self.app_password(),
            use_tls=self.boolean("USE_TLS", True),
            tls_verify=self.boolean("TLS_VERIFY", True),
            smtp_timeout=self.number("SMTP_TIMEOUT", Settings.smtp_timeout, float, 0.1, 600),
            smtp_reuse_connections=self.boolean("SMTP_REUSE_CONNECTIONS", True),
            outbox_dir=Path(self.text("OUTBOX_DIR", str(Settings.outbox_dir))),
            host=self.text("HOST", DEFAULT_HOST[environment]),
            port=self.port("PORT", Settings.port),
            threads=self.number("THREADS", Settings.threads, int, 1, 256),
            allowed_hosts=self.parsed("ALLOWED_HOSTS", parse_allowed_hosts, self.words("ALLOWED_HOSTS")),
            max_body_size=self.number("MAX_BODY_SIZE", Settings.max_body_size, int, 1024),
            max_recipients=self.number("MAX_RECIPIENTS", Settings.max_recipients, int, 1, 1000),
            max_attachment_bytes=self.number(
                "MAX_ATTACHMENT_BYTES", Settings.max_attachment_bytes, int, 0
            ),
            # Each attachment costs about 1 ms to build: 1000 is about a second per request.
            max_attachments=self.number("MAX_ATTACHMENTS", Settings.max_attachments, int, 0, 1000),
            data_dir=Path(self.text("DATA_DIR", str(Settings.data_dir))),
            idempotency_store=self.idempotency_store(),
            idempotency_ttl=self.number("IDEMPOTENCY_TTL", Settings.idempotency_ttl, int, 1),
            plugins_dir=Path(plugins_dir) if plugins_dir else None,
            disabled_plugins=self.words("DISABLED_PLUGINS"),
            trace_plugins=self.boolean("TRACE_PLUGINS", False),
            log_level=self.choice("LOG_LEVEL", "info", {"debug", "info", "warning", "error"}).upper(),
            log_format=self.choice("LOG_FORMAT", "text", {"text", "json"}),
            metrics_token=self.text("METRICS_TOKEN"),
            outbox_ui=self.boolean("OUTBOX_UI", False),
            traefik_entrypoint=self.text("TRAEFIK_ENTRYPOINT", Settings.traefik_entrypoint),
            enable_tls=self.boolean("ENABLE_TLS", True),
            **self.abuse_protection(environment),
            **self.forms(),
            **self.own_domain(domain),
        )
        settings = Settings(**values, environ=dict(self.env))
        self.warn_if_open_relay(settings)
        return dataclasses.replace(settings, warnings=tuple(self.warnings))
