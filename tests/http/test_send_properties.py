"""Properties of POST /send that must hold for every input (hypothesis)."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dinky_falcon.mail.addresses import parse_mailbox
from support.samples import parse_mail

HEADERS_THE_SERVICE_SETS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
# Text biased towards what breaks headers: line breaks, separators, quotes, brackets, non-ASCII.
nasty_text = st.text(
    st.sampled_from(list('\r\n\x00\x0b\x0c\x85\u2028\u2029:;,<>"()@ \tÄ東\U0001f600'))
    | st.characters(),
    max_size=60,
)
local_parts = st.from_regex(r"[a-z0-9._+-]{1,12}", fullmatch=True)
good_addresses = st.builds("{}@example.org".format, local_parts) | st.builds(
    "{} <{}@example.org>".format, nasty_text, local_parts
)
addresses = (
    good_addresses | st.builds("{}@example.org{}".format, nasty_text, nasty_text) | nasty_text
)
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=80)
send_bodies = st.fixed_dictionaries(
    {
        "to": st.one_of(
            good_addresses,
            st.lists(good_addresses, min_size=1, max_size=3),
            addresses,
            st.lists(addresses, max_size=3),
        ),
        "subject": printable | nasty_text,
        "body": st.text(max_size=200) | nasty_text,
    },
    optional={"from": good_addresses | addresses, "html": st.booleans()},
)


def same_lines(received: str, sent: str) -> bool:
    """Equal up to line-end conventions (CRLF, CR, LF) and the final line end mail adds."""

    def lines(text):
        return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")

    return lines(received) == lines(sent)


@pytest.fixture(scope="module")
def service(request):
    from dinky_falcon.app import create_app
    from dinky_falcon.config.settings import Settings
    from dinky_falcon.mailer import Mailer
    from support.clients import loopback_client

    settings_ = Settings.from_env(
        {
            "ENVIRONMENT": "development",
            "MAIL_DOMAIN": "example.com",
            "MAIL_TRANSPORT": "memory",
            "ALLOWED_SENDER_DOMAINS": "example.org",  # the generated senders' domain
        },
        env_file=None,
    )
    mailer = Mailer.from_settings(settings_)
    return loopback_client(create_app(settings_, mailer=mailer)), mailer.transports[0][1].sent


quick = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@quick
@given(document=json_values)
def test_no_json_document_produces_a_500(service, document):
    client, _ = service
    result = client.simulate_post(
        "/send", body=json.dumps(document), content_type="application/json"
    )
    assert result.status_code in (200, 422)
    assert result.json["success"] is (result.status_code == 200)


@quick
@given(raw=st.binary(max_size=200))
def test_no_byte_string_produces_a_500(service, raw):
    client, _ = service
    result = client.simulate_post("/send", body=raw, content_type="application/json")
    assert result.status_code in (200, 400, 422)


@quick
@given(body=send_bodies)
def test_no_field_value_adds_a_header_or_breaks_one(service, body):
    client, sent = service
    sent.clear()
    result = client.simulate_post("/send", body=json.dumps(body), content_type="application/json")
    assert result.status_code in (200, 400, 403, 422)  # 403: a sender outside the allowed domains
    event(f"status {result.status_code}")
    if result.status_code != 200:
        assert sent == []
        return
    ((message, envelope),) = sent
    raw = message.as_bytes()
    parsed = parse_mail(raw)
    names = [name.lower() for name in parsed.keys()]
    # HTML comes with a text alternative: a multipart, whose parts say their encoding.
    expected = HEADERS_THE_SERVICE_SETS - (
        {"content-transfer-encoding"} if body.get("html") else set()
    )
    assert set(names) == expected
    assert len(names) == len(set(names)), "a header appears twice"
    assert parsed["Subject"] == body["subject"].strip()
    assert same_lines(parsed.get_body(("html", "plain")).get_content(), body["body"])
    to = body["to"] if isinstance(body["to"], list) else [body["to"]]
    assert list(parsed["To"].addresses) == [parse_mailbox(address) for address in to]
    # Each recipient once in the envelope, however often the request names it.
    shown = [a.addr_spec for a in parsed["To"].addresses]
    assert list(envelope.recipients) == list(dict.fromkeys(shown))
    sender = parse_mailbox(body.get("from", "noreply@example.com"))
    assert parsed["From"].addresses == (sender,)
    assert envelope.sender == sender.addr_spec
