"""The settings as ``dinky-mail config`` and the log show them: secrets as ``***``, API keys
by label, storage URLs without their credentials; and the warning about an open relay."""

from __future__ import annotations

import dataclasses

from ..redact import redact_url

# Built-in transports that deliver nothing: every other one sends real mail.
SINKS = frozenset({"file", "memory"})
SECRETS = frozenset(
    {
        "smtp_relay_password",
        "api_keys",
        "rate_limit_storage",
        "idempotency_store",
        "forms_secret",
        "metrics_token",
    }
)
# Not variables, or shown otherwise (each form by its own variables: Settings.redacted).
NOT_SHOWN = frozenset(
    {
        "environ",
        "warnings",
        "forms",
        "rate_limit_items",
        "rate_limit_per_key_items",
        "trusted_networks",
    }
)


def shown_secret(name: str, value) -> str:
    """A secret for display: API keys by label, the storage URL without credentials, or ``***``."""
    if not value:
        return ""
    if name == "api_keys":
        return ",".join(f"{key.label}:***" for key in value)
    if name in ("rate_limit_storage", "idempotency_store"):
        return redact_url(value)
    return "***"


def shown_settings(settings) -> dict[str, str]:
    """The settings as VARIABLE -> text, secrets shown as ``***`` (``dinky-mail config``)."""
    shown = {}
    for f in dataclasses.fields(settings):
        if f.name in NOT_SHOWN:
            continue
        value = getattr(settings, f.name)
        if f.name in SECRETS:
            text = shown_secret(f.name, value)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, tuple):
            text = ",".join(value)
        elif value is None:
            text = ""
        else:
            text = str(value)
        shown[f.name.upper()] = text
    for key in settings.api_keys:
        if key.recipients is not None:
            shown[key.variable] = ",".join(key.recipients)
    return shown


def open_relay_warning(settings) -> str | None:
    """Anyone who reaches a service with neither keys nor recipient rules sends real mail:
    in production, and in development as soon as a transport delivers (not a sink)."""
    if settings.api_keys or settings.allowed_recipients:
        return None
    if settings.environment == "production" or not SINKS.issuperset(settings.transport_names):
        return (
            "SECURITY: neither API_KEYS nor ALLOWED_RECIPIENTS is set, so anyone who can reach "
            f"this service (on {settings.host}:{settings.port}) can send mail from your domain "
            "to anyone. Set API_KEYS, ALLOWED_RECIPIENTS or both (docs/security.md)."
        )
    return None
