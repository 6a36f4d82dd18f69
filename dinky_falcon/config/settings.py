"""Settings: read once from the environment (and a ``.env`` file), validated at start.

Every variable is documented in ``.env.example``. A bad value raises ConfigError with one line
naming the variable, so the service stops at start instead of failing at the first message.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from ..errors import ConfigError
from ..mail.addresses import parse_mailbox
from ..redact import redact_url
from . import defaults
from .display import SECRETS, open_relay_warning, shown_secret, shown_settings
from .domain import own_domain_settings
from .forms import Form, describe_form, forms_settings
from .parsers import (
    ApiKey,
    Network,
    ascii_hostname,
    parse_allowed_hosts,
    parse_api_keys,
    parse_domains,
    parse_networks,
    parse_rate_limit,
    parse_recipient_rules,
    parse_token,
)
from .reader import Reader
from .sender import sender_settings


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
    # Abuse protection (dinky_falcon/guard/).
    api_keys: tuple[ApiKey, ...] = ()
    allowed_recipients: tuple[str, ...] = ()
    allowed_sender_domains: tuple[str, ...] = ()
    rate_limit: str = "none"
    rate_limit_per_key: str = "none"
    rate_limit_storage: str = "memory://"
    trusted_proxies: tuple[str, ...] = ()
    client_timeout: int = 30
    receive_timeout: int = 60  # seconds for a whole request to arrive (server.py)
    # The three above as the guards use them, parsed once here (``limits`` items, networks).
    rate_limit_items: tuple = field(default=(), repr=False, compare=False)
    rate_limit_per_key_items: tuple = field(default=(), repr=False, compare=False)
    trusted_networks: tuple[Network, ...] = field(default=(), repr=False, compare=False)
    # Contact forms (config/forms.py, dinky_falcon/forms/).
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

    def __repr__(self) -> str:
        # Plugins get the settings and may log them: secrets as ``dinky-mail config`` shows them.
        shown = []
        for f in dataclasses.fields(self):
            if f.repr:
                value = getattr(self, f.name)
                value = shown_secret(f.name, value) if f.name in SECRETS else value
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def sender_domains(self) -> tuple[str, ...]:
        """Domains a message may be sent from: MAIL_DOMAIN, DEFAULT_FROM's, and the allowed."""
        default_domain = parse_mailbox(self.default_from, self.accepts_test_domains).domain.lower()
        return (self.mail_domain, default_domain, *self.allowed_sender_domains)

    @property
    def send_deadline(self) -> float:
        """Seconds a send through one SMTP transport may take, in all."""
        return defaults.SEND_DEADLINE_FACTOR * self.smtp_timeout

    @property
    def transport_names(self) -> tuple[str, ...]:
        return self.mail_transport or (defaults.DEFAULT_TRANSPORT[self.environment],)

    @property
    def accepts_test_domains(self) -> bool:
        """me@localhost, dev@shop.test...: only in development with sink transports."""
        return defaults.accepts_test_domains(self.environment, self.transport_names)

    def get(self, name: str, default: str | None = None) -> str | None:
        """A variable by name, for plugins that read settings of their own."""
        return self.environ.get(name, default)

    def redacted(self) -> dict[str, str]:
        """The settings as VARIABLE -> text, secrets shown as ``***`` (``dinky-mail config``)."""
        shown = shown_settings(self)
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


class _Reader(Reader):
    """Turns a mapping of variables into Settings, collecting warnings on the way."""

    def app_password(self) -> str:
        password = self.renamed("RELAY_PASSWORD", "SMTP_RELAY_PASSWORD")
        squeezed = "".join(password.split())
        if squeezed != password:
            self.warnings.append(
                "SMTP_RELAY_PASSWORD contained spaces; they were removed "
                "(Gmail shows App Passwords in groups of four)"
            )
        return self.sendable_credential("SMTP_RELAY_PASSWORD", squeezed)

    def host_name(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            return ascii_hostname(value)
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
        rate_limit = self.text("RATE_LIMIT", defaults.DEFAULT_RATE_LIMIT[environment])
        rate_limit_per_key = self.text(
            "RATE_LIMIT_PER_KEY", defaults.DEFAULT_RATE_LIMIT_PER_KEY[environment]
        )
        trusted_proxies = self.words("TRUSTED_PROXIES")
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
            rate_limit_items=self.parsed("RATE_LIMIT", parse_rate_limit, rate_limit),
            rate_limit_per_key_items=self.parsed(
                "RATE_LIMIT_PER_KEY", parse_rate_limit, rate_limit_per_key
            ),
            trusted_networks=self.parsed("TRUSTED_PROXIES", parse_networks, trusted_proxies),
            client_timeout=self.number("CLIENT_TIMEOUT", Settings.client_timeout, int, 1, 3600),
            receive_timeout=self.number("RECEIVE_TIMEOUT", Settings.receive_timeout, int, 1, 3600),
        )
        return values

    def idempotency_store(self) -> str:
        url = self.text("IDEMPOTENCY_STORE")
        if url and url.split("://", 1)[0].lower() not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"IDEMPOTENCY_STORE={redact_url(url)!r} must be empty (a file under DATA_DIR) "
                "or a Redis URL (redis://host:6379/0)"
            )
        return url

    def settings(self) -> Settings:
        environment = self.choice("ENVIRONMENT", "production", defaults.DEFAULT_TRANSPORT)
        transports = tuple(w.lower() for w in self.words("MAIL_TRANSPORT"))
        test_domains = defaults.accepts_test_domains(
            environment, transports or (defaults.DEFAULT_TRANSPORT[environment],)
        )
        sender = sender_settings(self, environment, Settings.mail_domain, test_domains)
        domain = sender["mail_domain"]
        plugins_dir = self.text("PLUGINS_DIR")
        if plugins_dir and not Path(plugins_dir).is_dir():
            raise ConfigError(f"PLUGINS_DIR={plugins_dir!r} is not a directory")
        if not plugins_dir and Path("plugins").is_dir():
            plugins_dir = "plugins"
        values = dict(
            environment=environment,
            **sender,
            mail_hostname=self.host_name("MAIL_HOSTNAME", domain),
            mail_transport=transports,
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
            host=self.text("HOST", defaults.DEFAULT_HOST[environment]),
            port=self.port("PORT", Settings.port),
            threads=self.number("THREADS", Settings.threads, int, 1, 256),
            allowed_hosts=self.parsed(
                "ALLOWED_HOSTS", parse_allowed_hosts, self.words("ALLOWED_HOSTS")
            ),
            max_body_size=self.number("MAX_BODY_SIZE", Settings.max_body_size, int, 1024),
            max_recipients=self.number("MAX_RECIPIENTS", Settings.max_recipients, int, 1, 1000),
            max_attachment_bytes=self.number(
                "MAX_ATTACHMENT_BYTES", Settings.max_attachment_bytes, int, 0
            ),
            # Each attachment takes time to build (bench/RESULTS.md): bounded per request.
            max_attachments=self.number("MAX_ATTACHMENTS", Settings.max_attachments, int, 0, 1000),
            data_dir=Path(self.text("DATA_DIR", str(Settings.data_dir))),
            idempotency_store=self.idempotency_store(),
            idempotency_ttl=self.number("IDEMPOTENCY_TTL", Settings.idempotency_ttl, int, 1),
            plugins_dir=Path(plugins_dir) if plugins_dir else None,
            disabled_plugins=self.words("DISABLED_PLUGINS"),
            trace_plugins=self.boolean("TRACE_PLUGINS", False),
            log_level=self.choice(
                "LOG_LEVEL", "info", {"debug", "info", "warning", "error"}
            ).upper(),
            log_format=self.choice("LOG_FORMAT", "text", {"text", "json"}),
            metrics_token=self.parsed("METRICS_TOKEN", parse_token),
            outbox_ui=self.boolean("OUTBOX_UI", False),
            traefik_entrypoint=self.text("TRAEFIK_ENTRYPOINT", Settings.traefik_entrypoint),
            enable_tls=self.boolean("ENABLE_TLS", True),
            **self.abuse_protection(environment),
            **forms_settings(
                self.env, self.text("FORMS_FILE"), self.text("FORMS_SECRET"), test_domains
            ),
            **own_domain_settings(self, domain, test_domains),
        )
        settings = Settings(**values, environ=dict(self.env))
        warning = open_relay_warning(settings)
        warnings = (*self.warnings, warning) if warning else tuple(self.warnings)
        return dataclasses.replace(settings, warnings=warnings)
