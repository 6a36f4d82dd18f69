"""The same submission twice is sent once; development says so, production does not."""

import logging

FIELDS = {"name": "Ada", "email": "ada@example.org", "message": "hello"}


def post(client, accept):
    return client.simulate_post("/forms/contact", json=FIELDS, headers={"Accept": accept})


def test_development_says_a_duplicate_was_not_sent(make_client, caplog):
    client, mailer = make_client(FORM_CONTACT_TO="team@example.org")
    first = post(client, "application/json")
    assert first.status_code == 200 and "duplicate" not in first.json
    with caplog.at_level(logging.INFO, logger="dinky_falcon.forms.resource"):
        second = post(client, "application/json")
    assert second.status_code == 200
    assert second.json["duplicate"] is True
    assert second.json["message"].startswith("Not sent: identical to a submission")
    assert any("IDEMPOTENCY_TTL (24 h)" in r.getMessage() for r in caplog.records)
    page = post(client, "text/html")
    assert page.status_code == 200 and "Not sent: identical" in page.text
    assert len(mailer.transports[0][1].sent) == 1


def test_production_answers_a_duplicate_as_if_sent(make_client):
    client, _ = make_client(
        ENVIRONMENT="production", MAIL_TRANSPORT="file", FORM_CONTACT_TO="team@example.org"
    )
    first = post(client, "application/json")
    second = post(client, "application/json")
    assert second.status_code == 200 and second.json == first.json
    assert "duplicate" not in second.json
    assert post(client, "text/html").status_code == 303
