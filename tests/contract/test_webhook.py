"""The example package plugins/dinky-falcon-webhook, installed by .ci/run, against a real
HTTP server on loopback."""

import hashlib
import hmac
import json
import time

import pytest

from dinky_falcon import ConfigError, OutcomeUnknown, TransportError
from dinky_falcon.mailer import Mailer
from support.http_peer import HttpPeer
from support.samples import SEED_REQUEST
from support.smtp_peer import free_port
from support.transport_contract import Delivered, TransportContract, build_transport, make_message


@pytest.fixture
def receiver():
    with HttpPeer() as peer:
        yield peer


class TestWebhookTransport(TransportContract):
    @pytest.fixture
    def transport(self, receiver):
        self.receiver = receiver
        return build_transport("webhook", WEBHOOK_URL=receiver.url)

    def delivered(self):
        delivered = []
        for request in self.receiver.requests:
            document = json.loads(request.body)
            headers = {name.lower(): value for name, value in document["headers"].items()}
            delivered.append(Delivered(headers, document["text"], document["html"]))
        return delivered


def test_each_message_is_posted_as_json_with_envelope_bodies_and_headers(receiver):
    transport = build_transport("webhook", WEBHOOK_URL=receiver.url)
    message, envelope = make_message(
        to=["Ann <ann@example.org>", "bob@example.org"], subject="Order 42", body="Thanks!"
    )
    transport.send(message, envelope)
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["Content-Type"] == "application/json"
    document = json.loads(request.body)
    assert document == {
        "from": "noreply@example.org",
        "to": ["ann@example.org", "bob@example.org"],
        "subject": "Order 42",
        "text": "Thanks!\n",
        "html": None,
        "headers": {name: str(value) for name, value in message.items()},
    }
    assert document["headers"]["To"] == "Ann <ann@example.org>, bob@example.org"


def test_with_webhook_secret_the_body_carries_an_hmac_sha256_signature(receiver):
    secret = "correct horse battery staple"
    transport = build_transport("webhook", WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=secret)
    transport.send(*make_message(subject="Signed"))
    (request,) = receiver.requests
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Dinky-Signature"] == f"sha256={expected}"
    assert secret not in request.body.decode()


def test_without_a_secret_there_is_no_signature_header(receiver):
    build_transport("webhook", WEBHOOK_URL=receiver.url).send(*make_message(subject="Plain"))
    (request,) = receiver.requests
    assert "X-Dinky-Signature" not in request.headers


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_a_5xx_or_try_later_answer_is_a_503_for_the_caller(make_client, receiver, status):
    receiver.status = status
    client, _ = make_client(MAIL_TRANSPORT="webhook", WEBHOOK_URL=receiver.url)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503
    assert result.headers["Retry-After"] == "30"
    assert result.json["details"].startswith(f"the webhook answered {status}")


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_4xx_answer_is_a_permanent_502(make_client, receiver, status):
    receiver.status = status
    client, _ = make_client(MAIL_TRANSPORT="webhook", WEBHOOK_URL=receiver.url)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 502
    assert result.json["success"] is False


def test_a_receiver_slower_than_webhook_timeout_leaves_the_outcome_unknown(receiver):
    # The whole request was sent: the receiver may act on it, so it is never tried again.
    receiver.hang = True
    transport = build_transport("webhook", WEBHOOK_URL=receiver.url, WEBHOOK_TIMEOUT="0.3")
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown) as caught:
        transport.send(*make_message(subject="Slow"))
    assert time.monotonic() - started < 5
    assert "0.3 seconds" in str(caught.value)


def test_a_receiver_that_closes_without_answering_leaves_the_outcome_unknown(receiver):
    receiver.drop = True
    transport = build_transport("webhook", WEBHOOK_URL=receiver.url)
    with pytest.raises(OutcomeUnknown) as caught:
        transport.send(*make_message(subject="Dropped"))
    assert "closed the connection before answering" in str(caught.value)
    assert len(receiver.requests) == 1


def test_a_lost_webhook_answer_is_never_failed_over_to_the_next_transport(make_client, receiver):
    receiver.drop = True
    client, mailer = make_client(MAIL_TRANSPORT="webhook,memory", WEBHOOK_URL=receiver.url)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 504
    assert result.json["outcome"] == "unknown"
    assert len(receiver.requests) == 1
    assert mailer.transports[1][1].sent == []


def test_a_receiver_that_is_not_listening_is_a_temporary_error():
    transport = build_transport("webhook", WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(TransportError) as caught:
        transport.send(*make_message(subject="Nobody home"))
    assert caught.value.temporary is True
    assert "could not be reached" in str(caught.value)


def test_a_redirect_is_not_followed_and_is_permanent(receiver):
    # urllib would follow it with a GET and no body: the message would be lost silently.
    receiver.status, receiver.location = 302, "/elsewhere"
    transport = build_transport("webhook", WEBHOOK_URL=receiver.url)
    with pytest.raises(TransportError) as caught:
        transport.send(*make_message(subject="Moved"))
    assert caught.value.temporary is False
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_a_token_in_webhook_url_never_reaches_the_caller(make_client, receiver):
    receiver.status = 500
    client, _ = make_client(MAIL_TRANSPORT="webhook", WEBHOOK_URL=receiver.url + "?token=s3cr3t")
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503
    assert "s3cr3t" not in result.text


def test_when_the_webhook_is_down_the_next_transport_takes_the_message(make_client, receiver):
    receiver.status = 503
    client, mailer = make_client(MAIL_TRANSPORT="webhook,memory", WEBHOOK_URL=receiver.url)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 200
    assert result.json["transport"] == "memory"
    assert len(receiver.requests) == 1
    assert len(mailer.transports[1][1].sent) == 1


@pytest.mark.parametrize(
    "variables, fragment",
    [
        ({}, "WEBHOOK_URL is required"),
        ({"WEBHOOK_URL": "file:///etc/passwd"}, "http:// or https://"),
        ({"WEBHOOK_URL": "https:///no-host?token=s3cr3t"}, "with a host"),
        ({"WEBHOOK_URL": "http://127.0.0.1/hook", "WEBHOOK_TIMEOUT": "soon"}, "WEBHOOK_TIMEOUT"),
        ({"WEBHOOK_URL": "http://127.0.0.1/hook", "WEBHOOK_TIMEOUT": "0"}, "WEBHOOK_TIMEOUT"),
    ],
)
def test_a_bad_webhook_configuration_stops_the_start(make_settings, variables, fragment):
    settings = make_settings(MAIL_TRANSPORT="webhook", **variables)
    with pytest.raises(ConfigError) as caught:
        Mailer.from_settings(settings)
    assert fragment in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_health_names_the_webhook_plugin(make_client, receiver):
    client, _ = make_client(MAIL_TRANSPORT="webhook", WEBHOOK_URL=receiver.url)
    result = client.simulate_get("/health")
    assert result.json == {"status": "ok", "transport": "webhook", "plugin": "webhook"}
    assert receiver.requests == []
