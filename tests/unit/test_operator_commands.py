"""``dinky-mail check`` and ``dinky-mail send-test`` against real SMTP peers."""

import pytest

from dinky_falcon.cli import main
from support.smtp_peer import free_port


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """Run commands as an operator would: variables in the environment, no .env around."""
    monkeypatch.chdir(tmp_path)
    for name in ("MAIL_TRANSPORT", "PLUGINS_DIR", "SMTP_HOST", "SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)

    def set_variables(**variables):
        defaults = dict(ENVIRONMENT="production", MAIL_DOMAIN="example.org", SMTP_TIMEOUT="2")
        for name, value in (defaults | variables).items():
            monkeypatch.setenv(name, value)

    return set_variables


@pytest.fixture
def relay_environment(environment, gmail_server):
    def set_variables(**overrides):
        environment(
            **dict(
                MAIL_TRANSPORT="gmail",
                SMTP_RELAY_HOST=gmail_server.host,
                SMTP_RELAY_PORT=str(gmail_server.port),
                SMTP_RELAY_USERNAME="site@example.org",
                SMTP_RELAY_PASSWORD="abcdefghijklmnop",
            )
            | overrides
        )

    return set_variables


def test_check_walks_every_step_to_the_relay(relay_environment, gmail_server, trusted_ca, capsys):
    relay_environment()
    assert main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    steps = [line.split(": ", 1)[0] for line in lines]
    assert steps == [
        "ok    configuration",
        "ok    gmail",
        "ok    gmail",
        "ok    gmail",
        "ok    gmail",
        "ok    gmail",
        "ready",
    ]
    shown = "\n".join(lines)
    for step in (
        "DNS: 127.0.0.1",
        "TCP: ",
        "SMTP: ",
        "TLS: STARTTLS",
        "certificate verified",
        "AUTH: logged in as site@example.org",
    ):
        assert step in shown
    assert gmail_server.messages == []


def test_check_stops_at_a_rejected_login_and_says_what_to_do(relay_environment, trusted_ca, capsys):
    relay_environment(SMTP_RELAY_PASSWORD="wrongsecretvalue")
    assert main(["check"]) == 1
    output = capsys.readouterr().out
    last = output.splitlines()[-1]
    assert last.startswith("FAIL  gmail: ")
    assert "https://myaccount.google.com/apppasswords" in last
    assert "TLS: STARTTLS" in output
    assert "wrongsecretvalue" not in output


def test_check_stops_at_an_unreachable_port(environment, capsys):
    environment(MAIL_TRANSPORT="postfix", SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()))
    assert main(["check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("ok    postfix: DNS: ")
    assert lines[2].startswith("FAIL  postfix: ") and "refused the connection" in lines[2]
    assert len(lines) == 3


def test_check_reports_a_bad_configuration_before_touching_the_network(relay_environment, capsys):
    relay_environment(SMTP_RELAY_PASSWORD="")
    assert main(["check"]) == 2
    assert "SMTP_RELAY_PASSWORD" in capsys.readouterr().err


def test_send_test_delivers_through_the_configured_transport(environment, smtp_server, capsys):
    environment(
        MAIL_TRANSPORT="postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port)
    )
    assert main(["send-test", "me@example.org"]) == 0
    assert "sent to me@example.org through postfix" in capsys.readouterr().out
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ("me@example.org",)
    assert b"dinky-mail send-test" in received.data


def test_send_test_reports_a_failure_and_exits_non_zero(environment, capsys):
    environment(MAIL_TRANSPORT="postfix", SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()))
    assert main(["send-test", "me@example.org"]) == 1
    assert "FAIL  not sent (temporary, retry later)" in capsys.readouterr().out


def test_send_test_refuses_an_unusable_address(environment, capsys):
    environment(MAIL_TRANSPORT="memory")
    assert main(["send-test", "not an address"]) == 2
    assert "is not a usable address" in capsys.readouterr().out


def test_send_test_says_the_queue_id_the_server_gave_the_message(environment, smtp_server, capsys):
    environment(
        MAIL_TRANSPORT="postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port)
    )
    assert main(["send-test", "me@example.org"]) == 0
    (received,) = smtp_server.messages
    assert f"queued upstream as {received.queue_id}" in capsys.readouterr().out


def test_send_test_says_which_file_the_file_transport_wrote(environment, tmp_path, capsys):
    environment(ENVIRONMENT="development", OUTBOX_DIR=str(tmp_path / "outbox"))
    assert main(["send-test", "me@example.org"]) == 0
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert f"written to {eml}" in capsys.readouterr().out


def test_config_shows_the_transport_in_effect_when_the_environment_chose_it(environment, capsys):
    environment(ENVIRONMENT="development")
    assert main(["config"]) == 0
    assert "\nMAIL_TRANSPORT=file\n" in capsys.readouterr().out


def test_version_prints_the_installed_version(capsys):
    import importlib.metadata

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"dinky-mail {importlib.metadata.version('dinky-falcon')}\n"


@pytest.mark.parametrize("command", ["serve", "check", "send-test", "config", "plugins"])
def test_every_command_says_what_it_does_and_its_exit_status(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status: " in text and "2 also when the configuration is bad" in text
    assert "``" not in text


def test_plugins_lists_the_transports_without_a_production_set_up(environment, capsys):
    environment(MAIL_DOMAIN="")  # production requires it, listing plugins does not
    assert main(["plugins"]) == 0
    assert "transports: " in capsys.readouterr().out
