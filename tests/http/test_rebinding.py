"""Without API keys (development), /send and the forms answer only at names DNS rebinding
cannot use: a page on attacker.example re-pointed at 127.0.0.1 still sends its own name as Host."""

import pytest

from support.samples import SEED_REQUEST

KEY = "site-key-0123456789abcdef"
FORM = {"FORM_CONTACT_TO": "team@example.org"}
VISITOR = {"name": "Ada", "email": "ada@example.net", "message": "hi"}
REBOUND = ["attacker.example", "attacker.example:20001", "127.0.0.1.nip.io", "localhost.evil"]
LOOPBACK = ["localhost", "localhost:20001", "127.0.0.1:20001", "[::1]:20001", "app.localhost"]


@pytest.mark.parametrize("host", REBOUND)
def test_a_rebound_name_cannot_send_mail_through_development_without_keys(make_client, host):
    client, mailer = make_client(**FORM)
    sent = mailer.transports[0][1].sent
    answer = client.simulate_post("/send", json=SEED_REQUEST, headers={"Host": host})
    assert answer.status_code == 403
    assert answer.json["success"] is False
    assert "http://127.0.0.1:20001" in answer.json["details"]
    assert "API_KEYS" in answer.json["details"]
    form = client.simulate_post(
        "/forms/contact", json=VISITOR, headers={"Host": host, "Accept": "application/json"}
    )
    assert form.status_code == 403
    assert sent == []


def test_a_browsers_form_post_at_a_rebound_name_gets_the_forms_error_page(make_client):
    client, mailer = make_client(**FORM)
    answer = client.simulate_post(
        "/forms/contact",
        body="name=Ada&email=ada%40example.net&message=hi",
        headers={
            "Host": "attacker.example",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "text/html",
        },
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "localhost" in answer.text and "API_KEYS" in answer.text
    assert mailer.transports[0][1].sent == []


@pytest.mark.parametrize("host", LOOPBACK)
def test_development_without_keys_sends_at_loopback_names_and_addresses(make_client, host):
    client, mailer = make_client(**FORM)
    answer = client.simulate_post("/send", json=SEED_REQUEST, headers={"Host": host})
    assert answer.status_code == 200, answer.json
    form = client.simulate_post(
        "/forms/contact", json=VISITOR, headers={"Host": host, "Accept": "application/json"}
    )
    assert form.status_code == 200, form.json
    assert len(mailer.transports[0][1].sent) == 2


def test_with_api_keys_the_key_guards_send_at_any_name(make_client):
    client, mailer = make_client(API_KEYS=f"site:{KEY}", **FORM)
    host = {"Host": "mail-api.example"}
    assert client.simulate_post("/send", json=SEED_REQUEST, headers=host).status_code == 401
    keyed = {**host, "Authorization": f"Bearer {KEY}"}
    assert client.simulate_post("/send", json=SEED_REQUEST, headers=keyed).status_code == 200
    form = client.simulate_post(
        "/forms/contact", json=VISITOR, headers={**host, "Accept": "application/json"}
    )
    assert form.status_code == 200, form.json


def test_other_routes_answer_at_any_name(make_client):
    client, _ = make_client()
    assert client.simulate_get("/health", headers={"Host": "attacker.example"}).status_code == 200


@pytest.mark.parametrize(
    "path", ["//send", "/send/", "/%73end", "//forms/contact", "/forms//contact"]
)
def test_a_rebound_name_cannot_send_through_another_spelling_of_the_path(make_client, path):
    # The router reaches the resource for each of these: what it routes to is what counts.
    client, mailer = make_client(**FORM)
    body = SEED_REQUEST if "send" in path else VISITOR
    answer = client.simulate_post(
        path, json=body, headers={"Host": "attacker.example", "Accept": "application/json"}
    )
    assert answer.status_code in (403, 404), (path, answer.status_code)
    assert mailer.transports[0][1].sent == []
