"""Sender and recipient policies, the Origin check and the production warning, over real HTTP."""

import logging

import pytest

from dinky_falcon.errors import ConfigError
from dinky_falcon.logs import configure_logging
from support.samples import SEED_REQUEST

BLOG_KEY = "blog-key-0123456789abcdef"
ALERTS_KEY = "alerts-key-0123456789abcdef"


def test_a_recipient_outside_allowed_recipients_is_a_403_naming_it(live_server):
    server = live_server(ALLOWED_RECIPIENTS="owner@example.org,@team.example.org")
    to = ["owner@example.org", "Ann <ann@team.example.org>", "victim@elsewhere.net", "x@evil.org"]
    answer = server.send(dict(SEED_REQUEST, to=to))
    assert answer.status == 403
    assert answer.json == {
        "success": False,
        "error": "Recipient not allowed",
        "details": "Mail to victim@elsewhere.net, x@evil.org is not allowed by this service's "
        "recipient policy.",
    }
    assert server.sent == []


def test_allowed_addresses_and_domains_match_in_any_case(live_server):
    server = live_server(ALLOWED_RECIPIENTS="Owner@Example.org,@team.example.org")
    answer = server.send(dict(SEED_REQUEST, to=["owner@example.ORG", "bo@TEAM.example.org"]))
    assert answer.status == 200
    assert server.sent[0][1].recipients == ("owner@example.org", "bo@team.example.org")


def test_a_subdomain_is_not_its_parent_domain(live_server):
    server = live_server(ALLOWED_RECIPIENTS="@example.org")
    answer = server.send(dict(SEED_REQUEST, to="a@evil.example.org"))
    assert answer.status == 403


def test_a_key_bound_to_its_own_recipients_uses_them_instead(live_server):
    server = live_server(
        API_KEYS=f"blog:{BLOG_KEY},alerts:{ALERTS_KEY}",
        ALLOWED_RECIPIENTS="@example.org",
        API_KEY_RECIPIENTS_ALERTS="ops@example.net",
    )
    alerts = {"X-API-Key": ALERTS_KEY}
    assert server.send(dict(SEED_REQUEST, to="ops@example.net"), alerts).status == 200
    refused = server.send(dict(SEED_REQUEST, to="anyone@example.org"), alerts)
    assert refused.status == 403
    assert "anyone@example.org" in refused.json["details"]
    blog = {"X-API-Key": BLOG_KEY}
    assert server.send(dict(SEED_REQUEST, to="anyone@example.org"), blog).status == 200
    assert server.send(dict(SEED_REQUEST, to="ops@example.net"), blog).status == 403


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"ALLOWED_RECIPIENTS": "owner@"}, "ALLOWED_RECIPIENTS: 'owner@' is not an address"),
        (
            {"ALLOWED_RECIPIENTS": "@localhost"},
            "ALLOWED_RECIPIENTS: '@localhost' is not an @domain",
        ),
        (
            {"API_KEYS": f"blog:{BLOG_KEY}", "API_KEY_RECIPIENTS_BLOGG": "a@example.org"},
            "API_KEY_RECIPIENTS_BLOGG names no key: API_KEYS has no such label",
        ),
    ],
)
def test_a_bad_recipient_rule_stops_the_start(make_settings, variables, message):
    with pytest.raises(ConfigError) as error:
        make_settings(**variables)
    assert str(error.value).startswith(message)


def test_a_sender_outside_the_allowed_domains_is_a_403(live_server):
    server = live_server()
    answer = server.send(dict(SEED_REQUEST, **{"from": "ceo@bank.example.com"}))
    assert answer.status == 403
    assert answer.json == {
        "success": False,
        "error": "Sender not allowed",
        "details": "ceo@bank.example.com may not be used as the sender: mail can only be sent "
        "from example.org.",
    }
    assert server.sent == []


def test_allowed_sender_domains_and_default_from_are_accepted(live_server):
    server = live_server(
        ALLOWED_SENDER_DOMAINS="shop.example.net", DEFAULT_FROM="site@relay.example.com"
    )
    assert server.send(dict(SEED_REQUEST, **{"from": "orders@shop.example.net"})).status == 200
    assert server.send(dict(SEED_REQUEST, **{"from": "web@example.org"})).status == 200
    assert server.send(SEED_REQUEST).status == 200
    assert [envelope.sender for _, envelope in server.sent] == [
        "orders@shop.example.net",
        "web@example.org",
        "site@relay.example.com",
    ]


@pytest.mark.parametrize(
    "origin", ["https://evil.example.net", "null", "http://example.org.evil.net"]
)
def test_a_browser_request_from_a_foreign_origin_is_a_403(live_server, origin):
    server = live_server(ALLOWED_HOSTS="example.org,https://shop.example.org:8443")
    answer = server.send(SEED_REQUEST, {"Origin": origin})
    assert answer.status == 403
    assert answer.json["error"] == "Origin not allowed"
    assert origin in answer.json["details"]
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert server.sent == []


@pytest.mark.parametrize(
    "origin", ["http://example.org", "https://example.org", "https://shop.example.org:8443"]
)
def test_a_browser_request_from_an_allowed_origin_sends_with_cors(live_server, origin):
    server = live_server(ALLOWED_HOSTS="example.org,https://shop.example.org:8443")
    answer = server.send(SEED_REQUEST, {"Origin": origin})
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == origin


def test_a_request_without_origin_is_not_a_browser_and_passes(live_server):
    server = live_server(ALLOWED_HOSTS="")
    assert server.send(SEED_REQUEST).status == 200


def test_production_without_keys_or_recipient_rules_warns_loudly_at_start(make_settings, caplog):
    settings = make_settings(ENVIRONMENT="production")
    with caplog.at_level(logging.WARNING):
        configure_logging(settings)
    assert "SECURITY: neither API_KEYS nor ALLOWED_RECIPIENTS is set" in caplog.text
    for guarded in (
        make_settings(ENVIRONMENT="production", ALLOWED_RECIPIENTS="@example.org"),
        make_settings(ENVIRONMENT="production", API_KEYS=BLOG_KEY),
        make_settings(ENVIRONMENT="development"),
    ):
        assert not any("SECURITY" in warning for warning in guarded.warnings)
