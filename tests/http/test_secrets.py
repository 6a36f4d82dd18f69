"""Secrets hygiene: `dinky-mail config`, logs at the default level and error bodies show no secret."""

import logging

from dinky_falcon.cli import main
from support.samples import SEED_REQUEST

KEY = "blog-key-0123456789abcdef"
PASSWORD = "abcdefghijklmnop"


def test_config_shows_key_labels_and_hides_every_secret(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "SMTP_RELAY_PASSWORD": PASSWORD,
        "API_KEYS": f"blog:{KEY},cron-key-0123456789abcdef",
        "API_KEY_RECIPIENTS_BLOG": "owner@example.org",
        "RATE_LIMIT_STORAGE": "redis://:redis-secret@127.0.0.1:6379/0",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["config"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert "API_KEYS=blog:***,key2:***" in lines
    assert "API_KEY_RECIPIENTS_BLOG=owner@example.org" in lines
    assert "SMTP_RELAY_PASSWORD=***" in lines
    assert "RATE_LIMIT_STORAGE=redis://***@127.0.0.1:6379/0" in lines
    for secret in (KEY, "cron-key-0123456789abcdef", PASSWORD, "redis-secret"):
        assert secret not in printed


def test_logs_at_the_default_level_hold_no_key_and_no_body(make_client, caplog):
    client, _ = make_client(API_KEYS=f"blog:{KEY}", SMTP_RELAY_PASSWORD=PASSWORD)
    body = "Dear customer, your one-time code is 918273"
    with caplog.at_level(logging.INFO):
        assert (
            client.simulate_post(
                "/send", json=dict(SEED_REQUEST, body=body), headers={"X-API-Key": KEY}
            ).status_code
            == 200
        )
        client.simulate_post("/send", json=SEED_REQUEST, headers={"X-API-Key": KEY[::-1]})
    assert "POST /send 200" in caplog.text
    for secret in (KEY, KEY[::-1], PASSWORD, "918273"):
        assert secret not in caplog.text


def test_an_error_answer_never_echoes_the_key_it_was_given(make_client):
    client, _ = make_client(API_KEYS=f"blog:{KEY}")
    wrong = KEY[:-1] + "X"
    answer = client.simulate_post(
        "/send", json=SEED_REQUEST, headers={"Authorization": f"Bearer {wrong}"}
    )
    assert answer.status_code == 401
    assert wrong not in answer.text
