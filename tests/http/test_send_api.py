"""POST /send through falcon.testing: the seed's contract and every bad input's 4xx."""

import json

import pytest

from support.samples import SEED_REQUEST


def test_the_seed_request_is_accepted_and_handed_to_the_transport(client_and_sent):
    client, sent = client_and_sent
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 200
    assert result.json["success"] is True
    assert result.json["message"] == "Email sent successfully"
    assert result.json["transport"] == "memory"
    ((message, envelope),) = sent
    assert result.json["id"] == message["Message-ID"]
    assert message["To"] == "recipient@example.org"
    assert message["From"] == "noreply@example.org"
    assert message["Subject"] == "Test Email"
    assert message.get_content() == "This is a test email\n"
    assert envelope.sender == "noreply@example.org"
    assert envelope.recipients == ("recipient@example.org",)


def test_to_may_be_a_list_and_from_overrides_the_default(client_and_sent):
    client, sent = client_and_sent
    body = dict(
        SEED_REQUEST, to=["a@example.org", "Bea <b@example.org>"], **{"from": "web@example.org"}
    )
    assert client.simulate_post("/send", json=body).status_code == 200
    ((message, envelope),) = sent
    assert envelope.recipients == ("a@example.org", "b@example.org")
    assert envelope.sender == "web@example.org"
    assert message["To"] == "a@example.org, Bea <b@example.org>"


def test_html_true_sends_text_html(client_and_sent):
    client, sent = client_and_sent
    client.simulate_post("/send", json=dict(SEED_REQUEST, body="<p>Hi</p>", html=True))
    ((message, _),) = sent
    assert message.get_body(("html",)).get_content() == "<p>Hi</p>\n"


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("to", "not-an-address", "@-sign"),
        ("to", [], "At least one address"),
        ("to", 42, "address or a list"),
        ("to", "a@example.org, b@example.org", "single valid"),
        ("to", "a@example.org\r\nBcc: victim@example.org", "line breaks"),
        ("from", "x@example.org\nBcc: victim@example.org", "line breaks"),
        ("subject", "Hi\r\nBcc: victim@example.org", "line breaks"),
        ("subject", "Hi\u2028Bcc: victim@example.org", "line breaks"),
        ("subject", "", "Length"),
        ("subject", " \t ", "Length"),
        ("body", "nul\x00byte", "NUL"),
        ("html", "sometimes", "boolean"),
    ],
)
def test_an_invalid_field_is_a_422_naming_the_field(client_and_sent, field, value, fragment):
    client, sent = client_and_sent
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, **{field: value}))
    assert result.status_code == 422
    assert result.json["success"] is False
    assert result.json["error"] == "Validation failed"
    assert fragment.lower() in json.dumps(result.json["details"][field]).lower()
    assert sent == []


@pytest.mark.parametrize("missing", ["to", "subject", "body"])
def test_a_missing_required_field_is_a_422(client_and_sent, missing):
    client, _ = client_and_sent
    body = {k: v for k, v in SEED_REQUEST.items() if k != missing}
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 422
    assert result.json["details"] == {missing: ["Missing data for required field."]}


def test_an_unknown_field_is_refused_by_name(client_and_sent):
    client, _ = client_and_sent
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, sujbect="typo"))
    assert result.status_code == 422
    assert result.json["details"] == {"sujbect": ["Unknown field."]}


def test_too_many_recipients_is_a_422(make_client):
    client, _ = make_client(MAX_RECIPIENTS="2")
    to = [f"r{i}@example.org" for i in range(3)]
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, to=to))
    assert result.status_code == 422
    assert "at most 2" in result.json["details"]["to"][0]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"to": "a@example.org", "to": "b@example.org"}', "duplicate key"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"to": "a@example.org", "subject": "\\ud800", "body": "x"}', "without its pair"),
    ],
)
def test_malformed_json_is_a_400(client_and_sent, body, fragment):
    client, _ = client_and_sent
    result = client.simulate_post("/send", body=body, content_type="application/json")
    assert result.status_code == 400
    assert result.json["error"] == "Malformed JSON"
    assert fragment in result.json["details"]


@pytest.mark.parametrize("document", [b"[]", b'"text"', b"1", b"null"])
def test_json_that_is_not_an_object_is_a_422(client_and_sent, document):
    client, _ = client_and_sent
    result = client.simulate_post("/send", body=document, content_type="application/json")
    assert result.status_code == 422


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415(client_and_sent, content_type):
    client, _ = client_and_sent
    result = client.simulate_post("/send", body=json.dumps(SEED_REQUEST), content_type=content_type)
    assert result.status_code == 415
    assert result.json["success"] is False


def test_json_with_a_charset_parameter_is_accepted(client_and_sent):
    client, _ = client_and_sent
    result = client.simulate_post(
        "/send", body=json.dumps(SEED_REQUEST), content_type="application/json; charset=utf-8"
    )
    assert result.status_code == 200


def test_a_body_over_max_body_size_is_a_413(make_client):
    client, mailer = make_client(MAX_BODY_SIZE="2048")
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, body="x" * 4096))
    assert result.status_code == 413
    assert "2048" in result.json["details"]
    assert mailer.transports[0][1].sent == []


def test_unknown_paths_and_methods_answer_in_the_same_shape(client_and_sent):
    client, _ = client_and_sent
    missing = client.simulate_get("/nowhere")
    assert missing.status_code == 404
    assert missing.json["success"] is False
    wrong_method = client.simulate_get("/send")
    assert wrong_method.status_code == 405
    assert wrong_method.json["success"] is False


def test_health_is_cheap_and_names_the_transport_and_its_plugin(client_and_sent):
    client, sent = client_and_sent
    result = client.simulate_get("/health")
    assert result.status_code == 200
    assert result.json == {
        "status": "ok",
        "transport": "memory",
        "plugin": "dinky_falcon.transports.memory",
    }
