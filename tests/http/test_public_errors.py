"""A failed send tells a visitor of a public page what they can do and a short reference; the
operator's details (relay host and port, login, the provider's reply, variables to fix) go to
the log under the same reference, and to /send callers with an API key or in development."""

import logging
import re

import pytest

from support.form_client import JSON, submit, urlencoded
from support.samples import SEED_REQUEST
from support.smtp_peer import free_port

KEY = "site-key-0123456789abcdef"
FORM = {"FORM_CONTACT_TO": "team@example.org", "ALLOWED_HOSTS": "www.example.org"}
HELLO = urlencoded([("email", "ada@example.net"), ("message", "Hello")])
REFERENCE = re.compile(r"[0-9a-f]{10}")


@pytest.fixture
def refusing_relay(gmail_server, trusted_ca):
    """The Gmail stand-in, with a password it refuses (535): a permanent failure."""
    return dict(
        MAIL_TRANSPORT="gmail",
        SMTP_RELAY_HOST=gmail_server.host,
        SMTP_RELAY_PORT=str(gmail_server.port),
        SMTP_RELAY_USERNAME="site@example.org",
        SMTP_RELAY_PASSWORD="wrongsecretvalue",
        SMTP_TIMEOUT="2",
    )


def operator_details(relay: dict) -> tuple[str, ...]:
    return (
        relay["SMTP_RELAY_HOST"],
        relay["SMTP_RELAY_PORT"],
        relay["SMTP_RELAY_USERNAME"],
        "535",
        "SMTP_RELAY",
        "App Password",
    )


def logged_with(caplog, reference: str) -> logging.LogRecord:
    (record,) = [r for r in caplog.records if reference in r.getMessage()]
    return record


def test_a_refusing_relay_shows_form_visitors_a_reference_and_the_log_the_details(
    live_server, refusing_relay, caplog
):
    server = live_server(**refusing_relay, **FORM)  # development: forms are public all the same
    answer = submit(server.port, "contact", HELLO, JSON)
    page = submit(server.port, "contact", HELLO)
    assert (answer.status, page.status) == (502, 502)
    reference = answer.json["reference"]
    assert REFERENCE.fullmatch(reference)
    assert answer.json["details"] == (
        f"The message could not be sent: please contact us another way, quoting the reference "
        f"{reference}."
    )
    text = page.body.decode()
    assert page.headers["Content-Type"].startswith("text/html")
    assert "contact us another way" in text and REFERENCE.search(text)
    assert "correct the form" not in text
    for shown in (answer.body.decode(), text):
        assert not [detail for detail in operator_details(refusing_relay) if detail in shown]
    record = logged_with(caplog, reference)
    assert record.levelno == logging.ERROR
    assert all(detail in record.getMessage() for detail in ("535", "App Password"))


def test_an_unreachable_relay_asks_form_visitors_to_try_again_later(live_server, caplog):
    port = str(free_port())
    server = live_server(
        MAIL_TRANSPORT="gmail",
        SMTP_RELAY_HOST="127.0.0.1",
        SMTP_RELAY_PORT=port,
        SMTP_RELAY_USERNAME="site@example.org",
        SMTP_RELAY_PASSWORD="p" * 16,
        SMTP_TIMEOUT="2",
        **FORM,
    )
    answer = submit(server.port, "contact", HELLO, JSON)
    assert answer.status == 503 and answer.headers["Retry-After"]
    reference = answer.json["reference"]
    assert "please try again in a few minutes, or contact us another way" in answer.json["details"]
    assert "127.0.0.1" not in answer.body.decode() and port not in answer.body.decode()
    record = logged_with(caplog, reference)
    assert record.levelno == logging.WARNING and port in record.getMessage()


def test_send_shows_why_to_callers_with_a_key_and_in_development_only(make_client, refusing_relay):
    details = operator_details(refusing_relay)[2:4]
    development, _ = make_client(**refusing_relay)
    answer = development.simulate_post("/send", json=SEED_REQUEST)
    assert answer.status_code == 502 and all(d in answer.json["details"] for d in details)

    production = dict(refusing_relay, ENVIRONMENT="production", ALLOWED_RECIPIENTS="@example.org")
    keyed, _ = make_client(API_KEYS=f"site:{KEY}", **production)
    answer = keyed.simulate_post("/send", json=SEED_REQUEST, headers={"X-API-Key": KEY})
    assert answer.status_code == 502 and all(d in answer.json["details"] for d in details)
    assert REFERENCE.fullmatch(answer.json["reference"])

    open_to_all, _ = make_client(**production)  # no API_KEYS: anyone who reaches it may call
    answer = open_to_all.simulate_post("/send", json=SEED_REQUEST)
    assert answer.status_code == 502
    assert answer.json["reference"] in answer.json["details"]
    assert not [d for d in operator_details(refusing_relay) if d in answer.text]


def test_only_a_page_the_visitor_can_fix_asks_to_correct_the_form(live_server):
    server = live_server(RATE_LIMIT="1/minute", FORM_CONTACT_FIELDS="message,email", **FORM)
    invalid = submit(server.port, "contact", urlencoded([("name", "Ada")]))
    assert invalid.status == 422 and "correct the form" in invalid.body.decode()
    limited = submit(server.port, "contact", urlencoded([("message", "again")]))
    assert limited.status == 429 and "correct the form" not in limited.body.decode()
