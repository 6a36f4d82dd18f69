"""What holds for every form post: no 500, no header added or broken, recipients always the
configured ones, every value escaped in the HTML part."""

import html
import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dinky_falcon.app import create_app
from dinky_falcon.mailer import Mailer
from support.clients import loopback_client
from support.samples import parse_mail

quick = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "x-tags"}
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",
    "application/json",
    "text/plain",
    "",
]


@pytest.fixture
def service(make_settings):
    settings_ = make_settings(
        FORM_CONTACT_TO="team@example.org",
        FORM_CONTACT_SUBJECT="From {name}",
        FORM_CONTACT_ATTACHMENTS="yes",
        MAX_ATTACHMENT_BYTES="2000",
    )
    mailer = Mailer.from_settings(settings_)
    yield loopback_client(create_app(settings_, mailer=mailer)), mailer.transports[0][1].sent
    mailer.close()


@quick
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(CONTENT_TYPES),
    accept=st.sampled_from(["application/json", "text/html", "*/*"]),
)
def test_no_body_produces_a_500(service, raw, content_type, accept):
    client, _ = service
    result = client.simulate_post(
        "/forms/contact", body=raw, headers={"Content-Type": content_type, "Accept": accept}
    )
    assert result.status_code in (200, 303, 400, 415, 422)
    if result.status_code >= 400 and result.headers["Content-Type"] == "application/json":
        assert result.json["success"] is False and result.json["error"]


field_names = st.text(min_size=1, max_size=20).filter(lambda n: not n.startswith("_"))


@quick
@given(fields=st.lists(st.tuples(field_names, st.text(max_size=60)), min_size=1, max_size=8))
def test_any_fields_reach_only_the_configured_recipients_escaped(service, fields):
    client, sent = service
    sent.clear()
    result = client.simulate_post(
        "/forms/contact",
        body=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    assert result.status_code in (200, 422), result.text
    if result.status_code == 422 or result.headers.get("Idempotent-Replayed"):
        assert sent == []
        return
    ((message, envelope),) = sent
    assert envelope.recipients == ("team@example.org",)
    parsed = parse_mail(message.as_bytes())
    assert {name.lower() for name in parsed.keys()} <= HEADERS | {"reply-to"}
    assert parsed["To"] == "team@example.org"
    page = parsed.get_body(("html",)).get_content()
    for name, value in fields:
        assert html.escape(name) in page
        # Mail has line ends, not CR or LF: a CR alone reads back as a line end.
        shown = value.strip().replace("\r\n", "\n").replace("\r", "\n")
        assert html.escape(shown) in page


def test_json_fields_must_be_strings_and_uploads_are_bounded(service):
    client, sent = service
    result = client.simulate_post(
        "/forms/contact",
        body=json.dumps({"n": 1}),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert (result.status_code, result.json["details"]) == (
        422,
        {"n": ["A string or a list of strings."]},
    )
    boundary = "b0undary"
    big = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
        ).encode()
        + b"x" * 2001
        + f"\r\n--{boundary}--\r\n".encode()
    )
    result = client.simulate_post(
        "/forms/contact",
        body=big,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Accept": "application/json",
        },
    )
    assert result.status_code == 422
    assert result.json["details"] == {
        "attachments": ["2001 bytes of files; at most 2000 are allowed."]
    }
    assert sent == []
