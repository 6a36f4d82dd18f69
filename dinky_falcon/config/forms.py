"""Named contact forms, configured on the server: who receives them and where visitors go next.

A form ``contact`` is set by FORM_CONTACT_TO (required), FORM_CONTACT_SUBJECT,
FORM_CONTACT_REDIRECT, FORM_CONTACT_ERROR_REDIRECT, FORM_CONTACT_FIELDS, FORM_CONTACT_REQUIRED,
FORM_CONTACT_EMAIL_FIELD, FORM_CONTACT_HONEYPOT, FORM_CONTACT_ATTACHMENTS and
FORM_CONTACT_MIN_SECONDS; or in FORMS_FILE (JSON, or TOML when it ends in .toml), one table
per form with the same keys in lower case. The public never chooses a recipient.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from pathlib import Path

from ..errors import ConfigError
from ..mail.addresses import (
    MAX_DISPLAY_NAME,
    AddressError,
    has_unsafe_header_chars,
    parse_mailbox,
)
from .reader import FALSE_WORDS, TRUE_WORDS

FORM_NAME = re.compile(r"[a-z0-9_]{1,64}")
_SETTING = re.compile(
    r"FORM_(?P<form>[A-Z0-9_]+?)_(?P<key>TO|SUBJECT|ERROR_REDIRECT|REDIRECT|FIELDS|REQUIRED|EMAIL_FIELD"
    r"|NAME_FIELD|FROM_NAME|HONEYPOT|ATTACHMENTS|MIN_SECONDS)"
)
KEYS = (
    "to",
    "subject",
    "redirect",
    "error_redirect",
    "fields",
    "required",
    "email_field",
    "name_field",
    "from_name",
    "honeypot",
    "attachments",
    "min_seconds",
)
_REDIRECT = re.compile(r"https?://[^/\s?#]+(?:[/?#]\S*)?|/(?!/)\S*", re.IGNORECASE)
DEFAULT_SUBJECT = "New submission to the {form} form"
MAX_FIELD_NAME = 100


@dataclass(frozen=True)
class Form:
    """One form's server-side settings. ``fields`` empty means any field is accepted."""

    name: str
    to: tuple[Address, ...]
    subject: str = DEFAULT_SUBJECT
    redirect: str = ""  # where a browser goes after sending; empty: the built-in thank-you page
    error_redirect: str = ""  # where it goes on an error; empty: a page listing what to fix
    fields: tuple[str, ...] = ()
    required: tuple[str, ...] = ()  # fields a submission must fill in (422 naming the missing)
    email_field: str = "email"  # the visitor's address, which becomes Reply-To
    name_field: str = "name"  # the visitor's name, Reply-To's display name when it is safe
    from_name: str = ""  # the display name of DEFAULT_FROM on this form's mail
    honeypot: str = "_gotcha"
    attachments: bool = False  # whether uploaded files are attached
    min_seconds: int = 0  # a signed token from GET /forms/NAME/token must be this old


def _redirect_url(value: str) -> str:
    if has_unsafe_header_chars(value) or not _REDIRECT.fullmatch(value):
        raise ValueError(f"{value!r} is not an http(s) URL or a path starting with one /")
    return value


def _words(value) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text and text not in TRUE_WORDS | FALSE_WORDS:  # empty: not set, so no
        raise ValueError(f"{value!r} is not a boolean: use yes/no, true/false or 1/0")
    return text in TRUE_WORDS


def is_field_name(name: str) -> bool:
    """1 to MAX_FIELD_NAME characters on one line: in a form's settings and in a submission."""
    return 0 < len(name) <= MAX_FIELD_NAME and not has_unsafe_header_chars(name)


def _field_name(value: str) -> str:
    if not is_field_name(value):
        raise ValueError(f"{value!r} is not a field name")
    return value


def _seconds(value) -> int:
    number = int(value) if str(value).strip() else 0
    if not 0 <= number <= 3600:
        raise ValueError(f"{value!r} is not a number of seconds from 0 to 3600")
    return number


def build_form(name: str, options: Mapping[str, object], test_domains: bool = False) -> Form:
    """A Form from its options (the keys of KEYS); ValueError names the bad option.
    ``test_domains``: recipients may be special-use test addresses (see mail/addresses.py)."""
    if not FORM_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a form name: use a-z, 0-9 and _")
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r}; known: {', '.join(KEYS)}")
    values: dict[str, object] = {}
    for key, value in options.items():
        try:
            values[key] = _convert(key, value, test_domains)
        except (AddressError, ValueError, TypeError) as exc:
            raise ValueError(f"{key}: {exc}") from None
    if not values.get("to"):
        raise ValueError("to: at least one recipient is required")
    return _consistent(Form(name=name, **values))


def _consistent(form: Form) -> Form:
    """``form``, unless its field settings contradict each other (each mistake would drop or
    refuse every real submission without a word at start)."""
    if form.honeypot in (form.email_field, *form.fields):
        raise ValueError(
            f"honeypot: {form.honeypot!r} is a real field of the form, so every submission "
            "that fills it would be dropped; name a hidden field people leave empty (_gotcha)"
        )
    unlisted = [name for name in form.required if form.fields and name not in form.fields]
    if unlisted:
        raise ValueError(
            f"required: {unlisted[0]!r} is not among the fields, so every submission would be "
            "refused; add it to fields or take it out of required"
        )
    if form.fields and form.email_field not in form.fields:
        raise ValueError(
            f"fields: the email field {form.email_field!r} is not listed, so a visitor's "
            "address would be refused; add it, or set email_field to the field that holds it"
        )
    return form


def _convert(key: str, value, test_domains: bool):
    if key == "to":
        return tuple(parse_mailbox(address, test_domains) for address in _words(value))
    if key == "subject":
        if has_unsafe_header_chars(str(value)) or not str(value).strip():
            raise ValueError("must be one line of text")
        return str(value).strip()
    if key in ("redirect", "error_redirect"):
        return _redirect_url(str(value).strip()) if str(value).strip() else ""
    if key in ("fields", "required"):
        return tuple(_field_name(word) for word in _words(value))
    if key == "from_name":
        name = " ".join(str(value).split())
        if has_unsafe_header_chars(name) or len(name) > MAX_DISPLAY_NAME:
            raise ValueError(f"must be one line of at most {MAX_DISPLAY_NAME} characters")
        return name
    if key in ("email_field", "name_field", "honeypot"):
        return _field_name(str(value).strip())
    if key == "attachments":
        return _boolean(value)
    return _seconds(value)


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    forms: dict[str, dict[str, str]] = {}
    for variable, value in environ.items():
        if not variable.startswith("FORM_") or not value.strip():
            continue
        match = _SETTING.fullmatch(variable)
        if match is None:
            keys = "|".join(KEYS).upper()
            raise ValueError(f"{variable} is not a form setting (FORM_<NAME>_<{keys}>)")
        forms.setdefault(match["form"].lower(), {})[match["key"].lower()] = value.strip()
    return forms


def _from_file(path: Path) -> dict[str, dict]:
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"FORMS_FILE: {path} cannot be read: {exc}") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise ValueError(f"FORMS_FILE: {path} must map each form's name to a table of its options")
    return document


def load_forms(
    environ: Mapping[str, str], forms_file: str, test_domains: bool = False
) -> tuple[Form, ...]:
    """Every form from FORM_* variables and FORMS_FILE; ValueError says which is wrong."""
    variables = _from_environment(environ)
    in_file = _from_file(Path(forms_file)) if forms_file else {}
    twice = sorted(set(variables) & set(in_file))
    if twice:
        raise ValueError(f"form {twice[0]!r} is defined both in FORM_* variables and in FORMS_FILE")
    forms = []
    for name, options in [*variables.items(), *in_file.items()]:
        where = f"FORM_{name.upper()}_*" if name in variables else f"FORMS_FILE: form {name!r}"
        try:
            forms.append(build_form(name, options, test_domains))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return tuple(sorted(forms, key=lambda form: form.name))


def describe_form(form: Form) -> dict[str, str]:
    """The form as FORM_<NAME>_* variables, for ``dinky-mail config``."""
    prefix = f"FORM_{form.name.upper()}_"
    shown = {}
    for key in KEYS:
        value = getattr(form, key)
        if key == "to":
            value = ",".join(str(address) for address in value)
        elif isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        shown[prefix + key.upper()] = str(value)
    return shown


def forms_settings(
    environ: Mapping[str, str], forms_file: str, secret: str, test_domains: bool = False
) -> dict:
    """FORMS_FILE, FORMS_SECRET and the forms, as Settings holds them; ConfigError if unusable."""
    try:
        forms = load_forms(environ, forms_file, test_domains)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if secret and len(secret) < 16:
        raise ConfigError("FORMS_SECRET is shorter than 16 characters")
    timed = [form.name for form in forms if form.min_seconds]
    if timed and not secret:
        raise ConfigError(
            f"form {timed[0]!r} has a minimum fill time: set FORMS_SECRET to sign its tokens"
        )
    return dict(forms_file=forms_file, forms_secret=secret, forms=forms)
