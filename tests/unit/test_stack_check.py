"""``dinky-mail check`` with the postfix transport walks on to the relay Postfix uses.

Postfix takes (and queues) mail whatever the relay thinks of the login, so a check that stops
at Postfix says "ready" while every message waits in the queue. Here a plain SMTP peer stands
in for the stack's Postfix and the Gmail stand-in for the relay; tests/test_stack.py runs the
same check inside the real API container.
"""

import pytest

from dinky_falcon.cli import main


@pytest.fixture
def postfix_environment(monkeypatch, tmp_path, smtp_server, gmail_server, trusted_ca):
    monkeypatch.chdir(tmp_path)  # no .env around
    monkeypatch.delenv("PLUGINS_DIR", raising=False)

    def set_variables(**overrides):
        variables = (
            dict(
                ENVIRONMENT="production",
                MAIL_DOMAIN="example.org",
                SMTP_TIMEOUT="2",
                MAIL_TRANSPORT="postfix",
                SMTP_HOST=smtp_server.host,
                SMTP_PORT=str(smtp_server.port),
                SMTP_RELAY_HOST="localhost",
                SMTP_RELAY_PORT=str(gmail_server.port),
                SMTP_RELAY_USERNAME="site@example.org",
                SMTP_RELAY_PASSWORD="abcd efgh ijkl mnop",
            )
            | overrides
        )
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


def test_check_of_the_postfix_transport_logs_in_to_the_relay_too(postfix_environment, capsys):
    postfix_environment()
    assert main(["check"]) == 0
    output = capsys.readouterr().out
    assert "ok    postfix: TCP: 127.0.0.1:" in output
    for step in (
        "relay DNS: localhost",
        "relay TCP: localhost:",
        "relay TLS: STARTTLS",
        "certificate verified for localhost",
        "relay AUTH: logged in as site@example.org",
    ):
        assert step in output
    assert output.splitlines()[-1] == "ready: the service can deliver mail"


def test_a_wrong_app_password_fails_the_check_of_the_postfix_transport(postfix_environment, capsys):
    postfix_environment(SMTP_RELAY_PASSWORD="wrongsecretvalue")
    assert main(["check"]) == 1
    output = capsys.readouterr().out
    last = output.splitlines()[-1]
    assert last.startswith("FAIL  postfix: localhost:") and "535" in last
    assert "rejected the login of site@example.org" in last
    assert "ready" not in output and "wrongsecretvalue" not in output


def test_without_a_relay_login_the_check_stops_at_postfix(postfix_environment, capsys):
    postfix_environment(SMTP_RELAY_USERNAME="", SMTP_RELAY_PASSWORD="")
    assert main(["check"]) == 0
    assert "relay" not in capsys.readouterr().out.replace("relay_", "")
