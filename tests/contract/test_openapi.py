"""``GET /openapi.json``: a valid OpenAPI 3.1 document that says what the API really does."""

import base64
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from support.samples import SEED_REQUEST


@pytest.fixture
def document(client_and_sent):
    client, _ = client_and_sent
    result = client.simulate_get("/openapi.json")
    assert result.status_code == 200
    return result.json


def schema_validator(document, name):
    """A JSON Schema validator for one component, resolving the document's $refs."""
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


FULL_REQUEST = {
    "to": ["Ada <ada@example.org>", {"name": "Zoë", "email": "zoe@example.org"}],
    "cc": "cc@example.org",
    "bcc": [{"email": "bcc@example.org"}],
    "reply_to": "visitor@example.net",
    "sender_name": "Shop",
    "subject": "Order",
    "text": "Thanks",
    "html": "<p>Thanks <img src='cid:logo'></p>",
    "attachments": [
        {
            "filename": "logo.png",
            "content": base64.b64encode(b"png").decode(),
            "content_id": "logo",
        },
        {"filename": "invoice.pdf", "content": "JVBERg==", "content_type": "application/pdf"},
    ],
    "headers": {"X-Order": "42", "List-Unsubscribe": "<mailto:u@example.org>"},
    "tags": ["order"],
}


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert set(document["paths"]) == {"/send", "/health", "/health/ready", "/openapi.json"}


@pytest.mark.parametrize(
    "body",
    [
        SEED_REQUEST,
        dict(SEED_REQUEST, html=True, **{"from": "Web <web@example.org>"}),
        FULL_REQUEST,
        {"to": "a@example.org", "subject": "s", "html": "<p>only html</p>"},
    ],
)
def test_requests_the_api_accepts_match_the_request_schema(client_and_sent, document, body):
    client, _ = client_and_sent
    assert client.simulate_post("/send", json=body).status_code == 200
    schema_validator(document, "SendRequest").validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"to": "a@example.org", "subject": "s"},  # no body at all
        dict(SEED_REQUEST, sujbect="typo"),
        dict(SEED_REQUEST, to=[]),
        dict(SEED_REQUEST, tags=["has space"]),
        dict(SEED_REQUEST, headers={f"X-{i}": "v" for i in range(21)}),
        dict(SEED_REQUEST, attachments=[{"filename": "a"}]),
        dict(SEED_REQUEST, to={"email": "a@example.org", "extra": 1}),
    ],
)
def test_requests_the_schema_refuses_are_refused_by_the_api(client_and_sent, document, body):
    client, _ = client_and_sent
    assert not schema_validator(document, "SendRequest").is_valid(body)
    assert client.simulate_post("/send", json=body).status_code == 422


def test_every_answer_is_documented_with_its_body(make_client, document):
    client, _ = make_client(MAX_BODY_SIZE="2048")
    answers = [
        client.simulate_post("/send", json=SEED_REQUEST, headers={"Idempotency-Key": "k"}),
        client.simulate_post("/send", json=SEED_REQUEST, headers={"Idempotency-Key": "k"}),
        client.simulate_post(
            "/send", json=dict(SEED_REQUEST, subject="x"), headers={"Idempotency-Key": "k"}
        ),
        client.simulate_post("/send", json=dict(SEED_REQUEST, to="nobody")),
        client.simulate_post(
            "/send", json=dict(SEED_REQUEST, attachments=[{"filename": "/", "content": "!"}])
        ),
        client.simulate_post("/send", body=b"{", content_type="application/json"),
        client.simulate_post("/send", body=b"{}", content_type="text/plain"),
        client.simulate_post("/send", json=dict(SEED_REQUEST, body="x" * 4096)),
    ]
    responses = document["paths"]["/send"]["post"]["responses"]
    for answer in answers:
        documented = responses[str(answer.status_code)]
        name = documented["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        schema_validator(document, name).validate(answer.json)
        for header in documented.get("headers", {}):
            if header in answer.headers:
                Draft202012Validator(documented["headers"][header]["schema"]).validate(
                    answer.headers[header]
                )
    assert {a.status_code for a in answers} == {200, 400, 413, 415, 422}


def test_the_document_states_the_configured_limits_and_the_key_header(make_client):
    client, _ = make_client(MAX_RECIPIENTS="7", MAX_ATTACHMENT_BYTES="5000")
    document = client.simulate_get("/openapi.json").json
    send = document["components"]["schemas"]["SendRequest"]
    assert "At most 7 recipients" in send["description"]
    assert "5000 bytes of attachments" in send["description"]
    assert send["required"] == ["subject", "to"]
    assert send["additionalProperties"] is False
    (parameter,) = document["paths"]["/send"]["post"]["parameters"]
    assert (parameter["name"], parameter["in"], parameter["schema"]["maxLength"]) == (
        "Idempotency-Key",
        "header",
        256,
    )


def test_the_api_reference_example_is_accepted_and_matches_the_schema(client_and_sent, document):
    readme = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    example = re.search(r"-d '(\{\n  \"to\": \{.*?\n\})'", readme, re.S).group(1)
    body = json.loads(example)
    schema_validator(document, "SendRequest").validate(body)
    client, sent = client_and_sent
    assert client.simulate_post("/send", json=body).status_code == 200
    ((message, envelope),) = sent
    assert envelope.recipients == ("ada@example.org", "team@example.org", "archive@example.org")


@pytest.mark.parametrize(
    "body",
    [
        dict(SEED_REQUEST, text="both"),
        dict(SEED_REQUEST, html="<p>string with body</p>"),
        {"to": "a@example.org", "subject": "s", "text": "t", "html": True},
        dict(SEED_REQUEST, sender_name="Shop", **{"from": "a@example.org"}),
        dict(
            SEED_REQUEST, attachments=[{"filename": "a.png", "content": "YQ==", "content_id": "a"}]
        ),
        dict(SEED_REQUEST, headers={"Subject": "x"}),
        dict(SEED_REQUEST, headers={"x-tags": "x"}),
        dict(SEED_REQUEST, subject="two\nlines"),
        dict(SEED_REQUEST, attachments=[{"filename": "../a", "content": "YQ=="}]),
        dict(SEED_REQUEST, to={"name": "A\nB", "email": "a@example.org"}),
        dict(SEED_REQUEST, cc="Tester <a@host.onion>"),  # .test: accepted in development
    ],
)
def test_cross_field_rules_are_in_the_schema_too(client_and_sent, document, body):
    client, _ = client_and_sent
    assert not schema_validator(document, "SendRequest").is_valid(body)
    assert client.simulate_post("/send", json=body).status_code == 422


def test_allowed_header_names_match_the_schema_in_any_case(client_and_sent, document):
    client, _ = client_and_sent
    body = dict(SEED_REQUEST, headers={"list-unsubscribe": "<mailto:u@example.org>", "x-any": "1"})
    schema_validator(document, "SendRequest").validate(body)
    assert client.simulate_post("/send", json=body).status_code == 200


def test_the_forms_are_documented_when_there_are_forms_and_answer_as_documented(make_client):
    client, _ = make_client(
        MAIL_TRANSPORT="memory",
        FORM_CONTACT_TO="team@example.org",
        FORM_QUOTE_TO="sales@example.org",
        FORM_QUOTE_MIN_SECONDS="1",
        FORMS_SECRET="openapi-test-secret-0123",
    )
    document = client.simulate_get("/openapi.json").json
    validate(document)
    assert set(document["paths"]) >= {
        "/forms/{name}",
        "/forms/{name}/token",
        "/forms/{name}/thanks",
    }
    post = document["paths"]["/forms/{name}"]["post"]
    assert post["parameters"][0]["schema"]["enum"] == ["contact", "quote"]

    fields = {"email": "visitor@example.net", "message": "Hello"}
    fetched = client.simulate_post("/forms/contact", json=fields)
    assert (fetched.status_code, fetched.headers["content-type"]) == (200, "application/json")
    schema_validator(document, "SendResponse").validate(fetched.json)
    posted = client.simulate_post(
        "/forms/contact",
        body="email=other%40example.net&message=Hi",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
    )
    assert posted.status_code == 303
    assert set(post["responses"]["303"]["headers"]) == {"Location"} and posted.headers["location"]
    invalid = client.simulate_post("/forms/contact", json={"email": "not an address"})
    assert str(invalid.status_code) in post["responses"]
    schema_validator(document, "Error").validate(invalid.json)

    token = client.simulate_get("/forms/quote/token")
    assert token.status_code == 200
    schema_validator(document, "FormToken").validate(token.json)
    assert client.simulate_get("/forms/contact/token").status_code == 404  # no fill-time check
    thanks = client.simulate_get("/forms/contact/thanks")
    assert thanks.status_code == 200 and thanks.headers["content-type"].startswith("text/html")
    assert (
        "text/html"
        in document["paths"]["/forms/{name}/thanks"]["get"]["responses"]["200"]["content"]
    )


def test_without_forms_the_document_has_no_form_paths(document):
    assert not any(path.startswith("/forms") for path in document["paths"])


@pytest.mark.parametrize(
    "field, limit, item",
    [
        ("to", 3, "r{}@example.org"),
        ("cc", 3, "r{}@example.org"),
        ("bcc", 3, "r{}@example.org"),
        ("reply_to", 10, "r{}@example.org"),
        ("attachments", 2, {"filename": "a{}.txt", "content": "YQ=="}),
    ],
)
def test_the_documents_list_limits_are_the_ones_the_api_enforces(make_client, field, limit, item):
    client, _ = make_client(MAX_RECIPIENTS="3", MAX_ATTACHMENTS="2")
    validator = schema_validator(client.simulate_get("/openapi.json").json, "SendRequest")

    def request(count: int) -> dict:
        items = [
            {k: v.format(i) for k, v in item.items()} if isinstance(item, dict) else item.format(i)
            for i in range(count)
        ]
        return dict(SEED_REQUEST, **{field: items})

    over = request(limit + 1)
    assert not validator.is_valid(over)
    assert client.simulate_post("/send", json=over).status_code == 422
    if field not in ("cc", "bcc"):  # beside "to", what counts is the total: not a list's own
        at_most = request(limit)
        assert validator.is_valid(at_most)
        assert client.simulate_post("/send", json=at_most).status_code == 200
