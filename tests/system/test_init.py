"""``dinky-mail init`` as a user runs it: the .env it writes loads with the service's own
Settings, holds fresh secrets, is mode 600, is never overwritten and never echoes a secret."""

import os
import stat
import subprocess
import sys

import pytest
from dotenv import dotenv_values

from dinky_falcon.config.settings import Settings

PRODUCTION = [
    "--domain",
    "shop.example.com",
    "--relay-username",
    "owner@gmail.com",
    "--recipient",
    "owner@example.com",
    "--site",
    "www.shop.example.com",
]


def init(tmp_path, *args, stdin=""):
    return subprocess.run(
        [sys.executable, "-m", "dinky_falcon", "init", *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin", "PYTHONPATH": os.pathsep.join(sys.path)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(path):
    """The file as the service reads it, with nothing from this process's environment."""
    return Settings.from_env({}, env_file=path)


def test_init_writes_a_production_env_that_the_service_loads(tmp_path):
    result = init(tmp_path, *PRODUCTION)
    assert result.returncode == 0, result.stderr
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    settings = loaded(env_file)
    assert settings.environment == "production"
    assert settings.mail_domain == "shop.example.com"
    assert settings.default_from == "noreply@shop.example.com"
    assert settings.smtp_relay_host == "smtp.gmail.com"
    assert settings.smtp_relay_username == "owner@gmail.com"
    assert settings.smtp_relay_password == ""
    assert settings.allowed_recipients == ("owner@example.com",)
    assert [key.label for key in settings.api_keys] == ["site"]
    assert len(settings.api_keys[0].secret) >= 40
    assert len(settings.forms_secret) >= 40
    assert "SMTP_RELAY_PASSWORD" in result.stdout  # the step that says where it goes
    assert "docker-compose --env-file .env -f compose/docker-compose.yml up -d --build" in (
        result.stdout
    )
    assert "docker exec dinky_mail-api dinky-mail send-test" in result.stdout


def test_init_for_development_writes_an_env_that_the_service_loads(tmp_path):
    result = init(tmp_path, "--dev")
    assert result.returncode == 0, result.stderr
    settings = loaded(tmp_path / ".env")
    assert settings.environment == "development"
    assert settings.transport_names == ("file",)
    assert [key.label for key in settings.api_keys] == ["site"]
    assert "dinky-mail serve" in result.stdout


def test_every_init_makes_new_secrets_and_never_shows_them(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    outputs = [init(tmp_path, *PRODUCTION, "--output", str(path)) for path in (first, second)]
    values = [dotenv_values(path) for path in (first, second)]
    assert values[0]["API_KEYS"] != values[1]["API_KEYS"]
    assert values[0]["FORMS_SECRET"] != values[1]["FORMS_SECRET"]
    for result, written in zip(outputs, values, strict=True):
        key = written["API_KEYS"].removeprefix("site:")
        for secret in (key, written["FORMS_SECRET"]):
            assert secret not in result.stdout + result.stderr


def test_init_never_overwrites_an_existing_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MAIL_DOMAIN=mine.example.com\n")
    result = init(tmp_path, *PRODUCTION)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "dinky-mail init: .env exists: it is never overwritten (edit it, or move it away first)"
    )
    assert env_file.read_text() == "MAIL_DOMAIN=mine.example.com\n"


def test_the_app_password_comes_from_stdin_only_when_asked_and_stays_off_the_terminal(tmp_path):
    result = init(tmp_path, *PRODUCTION, "--relay-password-stdin", stdin="abcd efgh ijkl mnop\n")
    assert result.returncode == 0, result.stderr
    assert loaded(tmp_path / ".env").smtp_relay_password == "abcdefghijklmnop"
    assert "abcd" not in result.stdout + result.stderr
    assert "Gmail App Password" not in result.stdout  # no step asks for it any more


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--domain", "shop.example.com"], "--recipient required for production"),
        (["--recipient", "owner@example.com"], "--domain required for production"),
        ([*PRODUCTION, "--recipient", "not an address"], "ALLOWED_RECIPIENTS"),
        ([*PRODUCTION, "--from", "noreply@shop.example.com#x"], "DEFAULT_FROM"),
        ([*PRODUCTION, "--relay-port", "70000"], "SMTP_RELAY_PORT"),
    ],
)
def test_an_unusable_flag_is_refused_with_one_line_and_nothing_is_written(
    tmp_path, args, complaint
):
    result = init(tmp_path, *args)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".env").exists()


def test_init_help_states_its_exit_codes(tmp_path):
    result = init(tmp_path, "--help")
    assert result.returncode == 0
    assert "exit status: 0 written, 1 the file exists" in " ".join(result.stdout.split())
