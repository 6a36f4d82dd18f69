"""Configuration that would start and then misbehave stops the start with one line (or warns).

Through the real entry points: Settings loading (make_settings), the app for what a request
or /health/ready shows, and ``dinky-mail serve`` in a subprocess for what an operator sees.
"""

import logging

import pytest

from dinky_falcon.errors import ConfigError
from dinky_falcon.logs import configure_logging
from support.samples import SEED_REQUEST
from support.service_process import start_or_refuse
from support.smtp_peer import free_port

RELAY = dict(
    MAIL_TRANSPORT="gmail",
    SMTP_RELAY_USERNAME="site@example.org",
    SMTP_RELAY_PASSWORD="abcdefghijklmnop",
)


def refused(make_settings, **variables) -> str:
    """The one line Settings loading stops with."""
    with pytest.raises(ConfigError) as error:
        make_settings(**variables)
    message = str(error.value)
    assert "\n" not in message
    return message


def serve(tmp_path, *args, **variables):
    env = {
        "PATH": "/usr/bin:/bin",
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "file",
        "DATA_DIR": str(tmp_path / "data"),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        **variables,
    }
    return start_or_refuse(env, tmp_path, "--port", "0", *args)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "0"])
def test_smtp_timeout_must_be_a_finite_positive_number(make_settings, value):
    assert refused(make_settings, SMTP_TIMEOUT=value).startswith(
        f"SMTP_TIMEOUT={value!r} is not a number"
    )


def test_the_memory_transport_is_refused_in_production(tmp_path):
    code, lines = serve(
        tmp_path,
        "--host",
        "127.0.0.1",
        ENVIRONMENT="production",
        MAIL_TRANSPORT="memory",
        ALLOWED_RECIPIENTS="@example.org",
    )
    assert code == 2
    assert lines[-1].startswith(
        "dinky-mail: configuration error: MAIL_TRANSPORT=memory delivers nothing"
    )


@pytest.mark.parametrize(
    "variables, fragment",
    [
        ({"FORM_CONTACT_HONEYPOT": "email"}, "honeypot: 'email' is a real field"),
        (
            {"FORM_CONTACT_FIELDS": "name,email,website", "FORM_CONTACT_HONEYPOT": "website"},
            "honeypot: 'website' is a real field",
        ),
        ({"FORM_CONTACT_FIELDS": "name,message"}, "fields: the email field 'email' is not listed"),
        (
            {"FORM_CONTACT_FIELDS": "name,email", "FORM_CONTACT_EMAIL_FIELD": "from"},
            "fields: the email field 'from' is not listed",
        ),
    ],
)
def test_form_fields_that_would_drop_every_submission_stop_the_start(
    make_settings, variables, fragment
):
    message = refused(make_settings, FORM_CONTACT_TO="owner@example.org", **variables)
    assert message.startswith("FORM_CONTACT_*: ")
    assert fragment in message


@pytest.mark.parametrize(
    "recipient", ["a@bücher.example", "a@xn--bcher-kva.example", "a@BÜCHER.example"]
)
def test_an_idn_recipient_rule_matches_both_spellings(make_client, recipient):
    client, _ = make_client(ALLOWED_RECIPIENTS="@bücher.example,b@xn--mnchen-3ya.example")
    assert client.simulate_post("/send", json=dict(SEED_REQUEST, to=recipient)).status_code == 200
    assert (
        client.simulate_post("/send", json=dict(SEED_REQUEST, to="b@münchen.example")).status_code
        == 200
    )
    assert (
        client.simulate_post("/send", json=dict(SEED_REQUEST, to="a@buecher.example")).status_code
        == 403
    )


@pytest.mark.parametrize("allowed", ["bücher.example", "@bücher.example", "xn--bcher-kva.example"])
@pytest.mark.parametrize("sender", ["a@bücher.example", "a@xn--bcher-kva.example"])
def test_allowed_sender_domains_take_idn_and_a_leading_at(make_client, allowed, sender):
    client, _ = make_client(ALLOWED_SENDER_DOMAINS=allowed)
    assert (
        client.simulate_post("/send", json=dict(SEED_REQUEST, **{"from": sender})).status_code
        == 200
    )
    refused = client.simulate_post("/send", json=dict(SEED_REQUEST, **{"from": "a@example.net"}))
    assert refused.status_code == 403


def test_a_sender_domain_that_is_no_domain_stops_the_start(make_settings):
    assert refused(make_settings, ALLOWED_SENDER_DOMAINS="example.org,ex ample.net").startswith(
        "ALLOWED_SENDER_DOMAINS: 'ex ample.net' is not a domain"
    )


@pytest.mark.parametrize("variable", ["RATE_LIMIT", "RATE_LIMIT_PER_KEY"])
@pytest.mark.parametrize("value", ["0/minute", "10/minute;0/hour"])
def test_a_rate_limit_of_zero_stops_the_start(make_settings, variable, value):
    message = refused(make_settings, **{variable: value})
    assert (
        message == f"{variable}: {value!r} allows no request at all: use none to switch limits off"
    )


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("*.example.com", "'*.example.com': wildcards are not supported"),
        ("https://*.example.com", "wildcards are not supported"),
        ("www.example.com:abc", "'www.example.com:abc': the port 'abc' is not a number"),
        ("https://www.example.com:99999", "the port '99999' is not a number from 1 to 65535"),
        ("ftp://www.example.com", "an origin starts with http:// or https://"),
        ("https://www.example.com/contact", "is not a host name"),
        ("www example.com", "is not a host name"),
    ],
)
def test_allowed_hosts_that_match_nothing_stop_the_start(make_settings, value, fragment):
    message = refused(make_settings, ALLOWED_HOSTS=f"example.com,{value}")
    assert message.startswith("ALLOWED_HOSTS: ")
    assert fragment in message


def test_an_idn_allowed_host_grants_the_origin_browsers_send(make_client):
    client, _ = make_client(ALLOWED_HOSTS="Bücher.example, HTTPS://Shop.Example.com:8443/")
    for origin in ("https://xn--bcher-kva.example", "https://shop.example.com:8443"):
        answer = client.simulate_post("/send", json=SEED_REQUEST, headers={"Origin": origin})
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "value", ["mail host.example.org", "mail\thost.example.org", "mail_host.example.org"]
)
def test_mail_hostname_must_be_a_host_name(make_settings, value):
    assert refused(make_settings, MAIL_HOSTNAME=value).startswith(
        f"MAIL_HOSTNAME: {value!r} is not a host name"
    )


def test_an_idn_mail_hostname_is_used_in_its_ascii_form(make_settings):
    assert (
        make_settings(MAIL_HOSTNAME="Mail.Bücher.example").mail_hostname
        == "mail.xn--bcher-kva.example"
    )


def test_an_unreachable_idempotency_store_is_not_ready_and_its_password_stays_hidden(make_client):
    port = free_port()
    client, _ = make_client(IDEMPOTENCY_STORE=f"redis://:St0reSecret@127.0.0.1:{port}/0")
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["status"] == "unavailable"
    assert ready.json["error"] == "Idempotency store not ready"
    (store,) = ready.json["stores"]
    assert store["name"] == "idempotency" and store["ready"] is False
    assert store["details"].startswith(f"redis://***@127.0.0.1:{port}/0: ")
    assert ready.json["details"].startswith(f"idempotency: redis://***@127.0.0.1:{port}/0: ")
    assert "St0reSecret" not in ready.text
    assert client.simulate_get("/health").status_code == 200


def test_a_reachable_idempotency_store_is_ready(make_client, redis_server):
    client, _ = make_client(IDEMPOTENCY_STORE=redis_server.url)
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 200
    assert ready.json["stores"] == [
        {"name": "idempotency", "ready": True, "details": redis_server.url}
    ]


@pytest.mark.parametrize("host", ["999.1.1.1", "192.0.2.1", "no-such-host.invalid"])
def test_a_host_that_cannot_be_listened_on_is_one_line(tmp_path, host):
    code, lines = serve(tmp_path, HOST=host)
    assert code == 2
    (line,) = lines
    assert line.startswith(f"dinky-mail: configuration error: cannot listen on HOST={host!r} PORT=")


def test_development_listens_on_loopback_unless_host_says_otherwise(tmp_path, make_settings):
    code, lines = serve(tmp_path)
    assert code is None
    assert any("listening on http://127.0.0.1:" in line for line in lines)
    assert make_settings(ENVIRONMENT="development").host == "127.0.0.1"
    assert make_settings(ENVIRONMENT="development", HOST="0.0.0.0").host == "0.0.0.0"
    assert make_settings(ENVIRONMENT="production", MAIL_TRANSPORT="postfix").host == "0.0.0.0"


def test_development_with_a_real_transport_and_no_guard_warns_as_production_does(
    make_settings, caplog
):
    with caplog.at_level(logging.WARNING):
        configure_logging(make_settings(ENVIRONMENT="development", **RELAY))
    assert "SECURITY: neither API_KEYS nor ALLOWED_RECIPIENTS is set" in caplog.text
    assert "on 127.0.0.1:20001" in caplog.text
    for quiet in (
        make_settings(ENVIRONMENT="development", MAIL_TRANSPORT="file"),
        make_settings(ENVIRONMENT="development", MAIL_TRANSPORT="memory"),
        make_settings(ENVIRONMENT="development", ALLOWED_RECIPIENTS="@example.org", **RELAY),
    ):
        assert not any("SECURITY" in warning for warning in quiet.warnings)
