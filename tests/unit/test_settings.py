"""Settings: defaults, legacy names, normalisation, and one clear line for every bad value."""

import pytest

from dinky_falcon.cli import main
from dinky_falcon.config.settings import Settings
from dinky_falcon.errors import ConfigError


def read(**env):
    return Settings.from_env(env, env_file=None)


def test_defaults_follow_the_seed():
    settings = read(MAIL_DOMAIN="example.com")
    assert settings.environment == "production"
    assert settings.default_from == "noreply@example.com"
    assert settings.mail_hostname == "example.com"
    assert (settings.smtp_relay_host, settings.smtp_relay_port) == ("smtp.gmail.com", 587)
    assert (settings.smtp_host, settings.smtp_port) == ("mail-server", 25)
    assert settings.use_tls and settings.tls_verify and settings.enable_tls
    assert settings.port == 20001
    assert settings.traefik_entrypoint == "https"
    assert settings.transport_names == ("postfix",)


def test_development_selects_the_file_sink_and_mail_transport_overrides():
    assert read(ENVIRONMENT="development").transport_names == ("file",)
    both = read(ENVIRONMENT="development", MAIL_TRANSPORT="Postfix, gmail")
    assert both.transport_names == ("postfix", "gmail")


def test_production_without_a_mail_domain_stops_at_start():
    with pytest.raises(ConfigError, match="MAIL_DOMAIN is required"):
        read(ENVIRONMENT="production")


@pytest.mark.parametrize(
    "word, value",
    [("yes", True), ("No", False), ("TRUE", True), ("false", False), ("1", True), ("0", False)],
)
def test_booleans_accept_the_usual_words_in_any_case(word, value):
    assert read(ENVIRONMENT="development", TLS_VERIFY=word).tls_verify is value


@pytest.mark.parametrize(
    "variable, value, fragment",
    [
        ("USE_TLS", "maybe", "USE_TLS='maybe' is not a boolean"),
        ("SMTP_RELAY_PORT", "smtp", "SMTP_RELAY_PORT='smtp' is not a whole number"),
        ("PORT", "70000", "PORT='70000' is not a whole number from 1 to 65535"),
        ("SMTP_TIMEOUT", "-1", "SMTP_TIMEOUT='-1'"),
        ("ENVIRONMENT", "staging", "ENVIRONMENT='staging' must be one of"),
        ("DEFAULT_FROM", "not an address", "DEFAULT_FROM='not an address'"),
        ("PLUGINS_DIR", "/nonexistent/plugins", "PLUGINS_DIR='/nonexistent/plugins'"),
        ("TRACE_PLUGINS", "loud", "TRACE_PLUGINS='loud' is not a boolean"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_and_value(variable, value, fragment):
    with pytest.raises(ConfigError) as error:
        read(**{"ENVIRONMENT": "development", variable: value})
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_legacy_relay_names_work_with_a_warning_naming_the_new_one():
    settings = read(
        ENVIRONMENT="development",
        RELAY_HOST="smtp.example.net",
        RELAY_PORT="2525",
        RELAY_USERNAME="me",
        RELAY_PASSWORD="secret",
    )
    assert settings.smtp_relay_host == "smtp.example.net"
    assert settings.smtp_relay_port == 2525
    assert settings.smtp_relay_username == "me"
    assert settings.smtp_relay_password == "secret"
    assert "RELAY_HOST is deprecated: rename it to SMTP_RELAY_HOST" in settings.warnings


def test_the_new_name_wins_when_both_are_set():
    settings = read(
        ENVIRONMENT="development", RELAY_HOST="old.example.net", SMTP_RELAY_HOST="new.example.net"
    )
    assert settings.smtp_relay_host == "new.example.net"
    assert "RELAY_HOST is ignored because SMTP_RELAY_HOST is set" in settings.warnings


def test_an_app_password_pasted_with_spaces_is_normalised_with_a_warning():
    settings = read(ENVIRONMENT="development", SMTP_RELAY_PASSWORD="abcd efgh ijkl mnop")
    assert settings.smtp_relay_password == "abcdefghijklmnop"
    assert any("contained spaces" in w for w in settings.warnings)
    assert not any("abcd" in w for w in settings.warnings)


def test_dotenv_is_read_and_the_process_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ENVIRONMENT=development\nMAIL_DOMAIN=from-file.example\nPORT=2000\n")
    settings = Settings.from_env({"PORT": "3000"}, env_file=env_file)
    assert settings.mail_domain == "from-file.example"
    assert settings.port == 3000


def test_env_example_is_a_valid_configuration_naming_every_setting():
    from pathlib import Path

    example = Path(__file__).parents[2] / ".env.example"
    settings = Settings.from_env({}, env_file=example)
    text = example.read_text()
    for name in settings.redacted():
        assert f"\n{name}=" in text, f"{name} is missing from .env.example"


def test_config_command_shows_secrets_as_stars(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("SMTP_RELAY_PASSWORD", "hunter2hunter2")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "SMTP_RELAY_PASSWORD=***" in out
    assert "hunter2" not in out
    assert "ENVIRONMENT=development" in out


def test_a_bad_configuration_stops_the_command_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("USE_TLS", "perhaps")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "dinky-mail: configuration error: USE_TLS='perhaps' is not a boolean: use yes/no, true/false or 1/0"
    ]
