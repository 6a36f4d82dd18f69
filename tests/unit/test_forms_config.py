"""Forms are configured on the server: FORM_<NAME>_* variables or FORMS_FILE, checked at start."""

import json
import re
from pathlib import Path

import pytest

from dinky_falcon.config.settings import Settings
from dinky_falcon.errors import ConfigError

BASE = {"ENVIRONMENT": "development", "MAIL_DOMAIN": "example.org"}


def settings(**variables) -> Settings:
    return Settings.from_env({**BASE, **variables}, env_file=None)


def test_the_commented_example_in_env_example_is_a_valid_form():
    example = Path(__file__).parents[2] / ".env.example"
    variables = dict(
        line[1:].split("=", 1)
        for line in example.read_text().splitlines()
        if line.startswith("#FORM_CONTACT_")
    )
    (form,) = settings(**variables).forms
    assert form.name == "contact"
    assert [a.addr_spec for a in form.to] == ["team@example.com", "sales@example.com"]
    assert form.subject == "New message from {name|a visitor}"
    assert form.required == ("email", "message")
    assert form.fields == ("name", "email", "message")
    assert (form.honeypot, form.email_field, form.attachments, form.min_seconds) == (
        "_gotcha",
        "email",
        False,
        0,
    )


def test_a_form_name_may_contain_underscores_and_each_option_is_found():
    (form,) = settings(
        FORM_CONTACT_US_TO="a@example.org",
        FORM_CONTACT_US_ERROR_REDIRECT="https://www.example.org/oops",
        FORM_CONTACT_US_REDIRECT="/thanks",
        FORM_CONTACT_US_ATTACHMENTS="yes",
    ).forms
    assert (form.name, form.error_redirect, form.redirect, form.attachments) == (
        "contact_us",
        "https://www.example.org/oops",
        "/thanks",
        True,
    )


@pytest.mark.parametrize("suffix", ["json", "toml"])
def test_many_forms_can_live_in_one_file(tmp_path, suffix):
    path = tmp_path / f"forms.{suffix}"
    if suffix == "json":
        path.write_text(
            json.dumps(
                {
                    "contact": {"to": ["a@example.org"], "min_seconds": 3},
                    "jobs": {"to": "hr@example.org", "attachments": True},
                }
            )
        )
    else:
        path.write_text(
            '[contact]\nto = ["a@example.org"]\nmin_seconds = 3\n\n'
            '[jobs]\nto = "hr@example.org"\nattachments = true\n'
        )
    forms = settings(FORMS_FILE=str(path), FORMS_SECRET="0123456789abcdef").forms
    assert [(f.name, f.min_seconds, f.attachments) for f in forms] == [
        ("contact", 3, False),
        ("jobs", 0, True),
    ]
    shown = settings(FORMS_FILE=str(path), FORMS_SECRET="0123456789abcdef").redacted()
    assert shown["FORM_JOBS_TO"] == "hr@example.org"
    assert shown["FORMS_SECRET"] == "***"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"FORM_CONTACT_TOO": "a@example.org"}, "FORM_CONTACT_TOO is not a form setting"),
        ({"FORM_CONTACT_SUBJECT": "Hi"}, "FORM_CONTACT_*: to: at least one recipient"),
        (
            {"FORM_CONTACT_TO": "not an address"},
            "FORM_CONTACT_*: to: An email address must have an @-sign",
        ),
        (
            {"FORM_CONTACT_TO": "a@example.org", "FORM_CONTACT_REDIRECT": "//evil.test"},
            "redirect: '//evil.test' is not an http(s) URL",
        ),
        (
            {"FORM_CONTACT_TO": "a@example.org", "FORM_CONTACT_REDIRECT": "javascript:alert(1)"},
            "is not an http(s) URL",
        ),
        (
            {"FORM_CONTACT_TO": "a@example.org", "FORM_CONTACT_ATTACHMENTS": "maybe"},
            "attachments: 'maybe' is not a boolean",
        ),
        ({"FORM_CONTACT_TO": "a@example.org", "FORM_CONTACT_MIN_SECONDS": "5"}, "set FORMS_SECRET"),
        ({"FORM_CONTACT_TO": "a@example.org", "FORMS_SECRET": "short"}, "FORMS_SECRET is shorter"),
        ({"FORMS_FILE": "/nonexistent/forms.json"}, "FORMS_FILE: /nonexistent/forms.json cannot"),
    ],
)
def test_a_bad_form_stops_the_service_at_start_naming_it(variables, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings(**variables)


def test_a_form_in_both_places_or_with_an_unknown_option_is_refused(tmp_path):
    path = tmp_path / "forms.json"
    path.write_text(json.dumps({"contact": {"to": "a@example.org"}}))
    with pytest.raises(ConfigError, match="defined both"):
        settings(FORMS_FILE=str(path), FORM_CONTACT_TO="b@example.org")
    path.write_text(json.dumps({"contact": {"to": "a@example.org", "recipient": "x"}}))
    with pytest.raises(ConfigError, match="unknown option 'recipient'"):
        settings(FORMS_FILE=str(path))
