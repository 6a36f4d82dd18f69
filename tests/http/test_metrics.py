"""``GET /metrics`` through a real waitress: Prometheus text that counts messages, requests by
route template, rate limits, duplicates, honeypots, form submissions and SMTP connections;
guarded by an API key or METRICS_TOKEN, never counted by the rate limits."""

import urllib.parse

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dinky_falcon.errors import ConfigError

KEY = "alice-key-0123456789abcdef"
TOKEN = "scraper-token-0123456789"
MESSAGE = {"to": "owner@example.net", "subject": "Hi", "body": "Hello\n"}
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def scrape(server, token=None) -> dict:
    """{(name, (label pairs...)): value} of one scrape."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = server.request("GET", "/metrics", headers=headers)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_messages_are_counted_by_transport_and_outcome_and_requests_by_route_template(
    live_server, smtp_server
):
    server = live_server(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        SMTP_TIMEOUT="2",
    )
    assert server.send(MESSAGE).status == 200
    assert server.send(MESSAGE).status == 200
    smtp_server.data_reply = "554 5.7.1 rejected"
    assert server.send(MESSAGE).status == 502
    assert server.request("GET", "/forms/no-such-form/thanks").status == 404
    assert server.request("GET", "/no/such/path/12345").status == 404

    metrics = scrape(server)
    assert (
        metrics["dinky_mail_messages_total", (("outcome", "sent"), ("transport", "postfix"))] == 2
    )
    assert (
        metrics["dinky_mail_messages_total", (("outcome", "refused"), ("transport", "postfix"))]
        == 1
    )
    assert metrics["dinky_mail_send_seconds_count", (("transport", "postfix"),)] == 3
    assert metrics["dinky_mail_http_requests_total", (("route", "/send"), ("status", "200"))] == 2
    assert metrics["dinky_mail_http_requests_total", (("route", "/send"), ("status", "502"))] == 1
    routes = {
        dict(labels).get("route")
        for name, labels in metrics
        if name == "dinky_mail_http_requests_total"
    }
    assert routes == {"/send", "/forms/{name}/thanks", "(unmatched)"}  # never a raw path
    # The pool keeps the connection open for the next message: open and idle.
    assert metrics["dinky_mail_smtp_connections_open", (("transport", "postfix"),)] == 1
    assert metrics["dinky_mail_smtp_connections_idle", (("transport", "postfix"),)] == 1


def test_metrics_need_an_api_key_or_the_token_and_scrapes_never_use_up_a_rate_limit(live_server):
    server = live_server(
        API_KEYS=f"alice:{KEY}",
        METRICS_TOKEN=TOKEN,
        RATE_LIMIT="2/minute",
        RATE_LIMIT_PER_KEY="2/minute",
    )

    assert server.request("GET", "/metrics").status == 401
    assert (
        server.request("GET", "/metrics", headers={"Authorization": "Bearer wrong"}).status == 401
    )
    for _ in range(5):
        scrape(server, TOKEN)
    scrape(server, KEY)
    # Six scrapes later, this client's two requests a minute are still there.
    for _ in range(2):
        assert server.send(MESSAGE, {"Authorization": f"Bearer {KEY}"}).status == 200
    assert server.send(MESSAGE, {"Authorization": f"Bearer {KEY}"}).status == 429
    metrics = scrape(server, TOKEN)
    assert metrics["dinky_mail_rate_limited_total", (("route", "/send"),)] == 1
    assert (
        metrics["dinky_mail_http_requests_total", (("route", "/metrics"), ("status", "401"))] == 2
    )


def test_duplicates_honeypots_and_form_submissions_are_counted(live_server):
    server = live_server(FORM_CONTACT_TO="team@example.org")
    fields = {"name": "Ada", "email": "ada@example.net", "message": "Hi"}
    post = urllib.parse.urlencode(fields).encode()
    bot = urllib.parse.urlencode({**fields, "_gotcha": "x"}).encode()
    assert server.request("POST", "/forms/contact", post, FORM).status == 200
    assert server.request("POST", "/forms/contact", post, FORM).status == 200  # a double click
    assert server.request("POST", "/forms/contact", bot, FORM).status == 200
    assert server.request("POST", "/forms/other", post, FORM).status == 404
    headers = {"Idempotency-Key": "order-1"}
    assert server.send(MESSAGE, headers).status == server.send(MESSAGE, headers).status == 200

    metrics = scrape(server)
    assert metrics["dinky_mail_form_submissions_total", (("form", "contact"),)] == 3
    assert not any(dict(labels).get("form") == "other" for _, labels in metrics)
    assert metrics["dinky_mail_honeypot_total", (("form", "contact"),)] == 1
    assert metrics["dinky_mail_duplicates_total", ()] == 2
    assert metrics["dinky_mail_messages_total", (("outcome", "sent"), ("transport", "memory"))] == 2
    assert len(server.sent) == 2


def test_a_short_metrics_token_stops_the_service_at_start(make_settings):
    # Read with the rest of the settings, so `dinky-mail config` and `check` say it too.
    with pytest.raises(ConfigError, match="METRICS_TOKEN: shorter than 16 characters"):
        make_settings(METRICS_TOKEN="short")
