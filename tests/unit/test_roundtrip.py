"""hypothesis: any valid payload arrives at a real SMTP peer as it was asked for, and no more.

For arbitrary recipients, names, subjects, bodies, attachments, custom headers and tags, the
delivered message parses back to the same recipients (envelope and headers), subject, bodies
and attachments, and carries no header the request did not ask for. And no JSON body at all
can make the API answer 500, nor give a transport a message it cannot write out.
"""

import base64
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings
from dinky_falcon.mailer import Mailer
from support.clients import loopback_client
from support.delivery import parse, relay
from support.smtp_peer import SmtpPeer

PRINTABLE = st.characters(categories=["L", "N", "P", "S"]) | st.just(" ")
# Text that is not an RFC 2047 encoded word: a mail reader would decode "=?...?=" itself.
WORDS = st.text(PRINTABLE, max_size=40).map(str.strip).filter(lambda t: "=?" not in t)
BODY = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]) | st.just("\n"), max_size=400)

DOMAINS = ["example.org", "Example.NET", "mail.example.com", "bücher.example"]
local_parts = st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,4})?", fullmatch=True) | st.sampled_from(
    ["jörg", "zoë"]
)
mailboxes = st.builds(
    lambda local, domain, name: {"local": local, "domain": domain, "name": name},
    local_parts,
    st.sampled_from(DOMAINS),
    WORDS,
)
header_names = st.from_regex(r"X-[A-Za-z0-9]{1,10}", fullmatch=True)
attachments = st.lists(
    st.builds(
        lambda stem, ext, data: {
            "filename": stem + ext,
            "content": base64.b64encode(data).decode(),
        },
        st.from_regex(r"[A-Za-z0-9ÄÖÜäöüß][A-Za-z0-9 _ÄÖÜäöüß-]{0,12}", fullmatch=True),
        st.sampled_from([".txt", ".pdf", ".png", ".bin", ".csv", ""]),
        st.binary(max_size=2000),
    ),
    max_size=3,
)


def as_json(mailbox):
    email = f"{mailbox['local']}@{mailbox['domain']}"
    return {"name": mailbox["name"], "email": email} if mailbox["name"] else email


def addr_spec(mailbox):
    return f"{mailbox['local']}@{mailbox['domain'].lower().encode('idna').decode()}"


@st.composite
def payloads(draw):
    """(request body, what the request asked for)."""
    to = draw(st.lists(mailboxes, min_size=1, max_size=3))
    cc = draw(st.lists(mailboxes, max_size=2))
    bcc = draw(st.lists(mailboxes, max_size=2))
    reply_to = draw(st.lists(mailboxes, max_size=2))
    body = {"to": [as_json(m) for m in to], "subject": draw(WORDS.filter(bool))}
    for name, value in (("cc", cc), ("bcc", bcc), ("reply_to", reply_to)):
        if value:
            body[name] = [as_json(m) for m in value]
    kind = draw(st.sampled_from(["body", "body+html", "text", "html", "text+html"]))
    text, html = draw(BODY), draw(BODY)
    if kind.startswith("body"):
        body["body"] = html if kind == "body+html" else text
        body["html"] = kind == "body+html"
    if "text" in kind:
        body["text"] = text
    if kind in ("html", "text+html"):
        body["html"] = html
    body["attachments"] = draw(attachments)
    headers = draw(st.dictionaries(header_names, WORDS, max_size=3))
    names = {name.lower(): name for name in headers}  # one spelling per header name
    body["headers"] = {name: headers[name] for name in names.values()}
    body["tags"] = draw(
        st.lists(st.from_regex(r"[a-z0-9][a-z0-9:-]{0,8}", fullmatch=True), max_size=3)
    )
    return body, {
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "reply_to": reply_to,
        "kind": kind,
        "text": text,
        "html": html,
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    directory = tmp_path_factory.mktemp("roundtrip")
    variables = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "memory",
        "DATA_DIR": str(directory / "data"),
        "MAX_RECIPIENTS": "50",
    }
    app_settings = Settings.from_env(variables, env_file=None)
    mailer = Mailer.from_settings(app_settings)
    with SmtpPeer(smtputf8=True) as peer:
        yield (
            loopback_client(create_app(app_settings, mailer=mailer)),
            mailer.transports[0][1].sent,
            peer,
        )


def with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_a_delivered_message_is_exactly_what_was_asked_for(service, payload):
    client, sent, peer = service
    body, asked = payload
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 200, result.json
    message, envelope = sent.pop()
    received = relay(peer, message, envelope)
    delivered = parse(received)

    recipients = [addr_spec(m) for m in asked["to"] + asked["cc"] + asked["bcc"]]
    assert received.rcpt_tos == tuple(dict.fromkeys(recipients))
    for header, mailboxes in (
        ("To", asked["to"]),
        ("Cc", asked["cc"]),
        ("Reply-To", asked["reply_to"]),
    ):
        shown = (
            [(a.display_name, a.addr_spec) for a in delivered[header].addresses]
            if mailboxes
            else []
        )
        # The API folds a run of spaces in a name to one, as a reader of a bare phrase would.
        assert shown == [(re.sub(" +", " ", m["name"]), addr_spec(m)) for m in mailboxes]
    assert str(delivered["Subject"]) == body["subject"]

    expected_headers = {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
    }
    expected_headers |= {name.lower() for name in body["headers"]}
    expected_headers |= {"cc"} if asked["cc"] else set()
    expected_headers |= {"reply-to"} if asked["reply_to"] else set()
    expected_headers |= {"x-tags"} if body["tags"] else set()
    if not delivered.is_multipart():
        expected_headers.add("content-transfer-encoding")
    names = [name.lower() for name in delivered.keys()]
    assert sorted(names) == sorted(expected_headers)
    for name, value in body["headers"].items():
        assert str(delivered[name]).strip() == value
    if body["tags"]:
        assert delivered["X-Tags"] == ", ".join(body["tags"])

    kind = asked["kind"]
    if kind in ("body", "text", "text+html"):
        assert delivered.get_body(("plain",)).get_content() == with_newline(asked["text"])
    if kind in ("body+html", "html", "text+html"):
        assert delivered.get_body(("html",)).get_content() == with_newline(asked["html"])
    if kind == "html":
        assert delivered.get_body(("plain",)) is not None  # derived from the HTML
    found = [
        (part.get_filename(), part.get_payload(decode=True))
        for part in delivered.iter_attachments()
    ]
    assert found == [
        (a["filename"].strip(), base64.b64decode(a["content"])) for a in body["attachments"]
    ]


# Text as JSON can carry it: lone surrogates (\ud800) included.
# (st.text() leaves surrogates out whatever its alphabet, so strings are joined here.)
any_text = st.lists(st.characters() | st.characters(categories=["Cs"]), max_size=30).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [
    "to",
    "cc",
    "bcc",
    "reply_to",
    "from",
    "sender_name",
    "subject",
    "body",
    "text",
    "html",
    "attachments",
    "headers",
    "tags",
]


VALID = [
    {"to": "a@example.org", "subject": "s", "body": "b"},
    {
        "to": {"name": "A", "email": "a@example.org"},
        "cc": "c@example.org",
        "reply_to": ["r@example.org"],
        "subject": "s",
        "text": "t",
        "html": "<p>h <img src='cid:i'></p>",
        "headers": {"X-A": "1"},
        "tags": ["t"],
        "attachments": [
            {"filename": "a.txt", "content": "YQ=="},
            {"filename": "i.png", "content": "YQ==", "content_id": "i"},
        ],
    },
]
ATTACHMENT_FIELDS = ["filename", "content", "content_type", "content_id"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(VALID),
    st.dictionaries(st.sampled_from(FIELDS), json_values | any_text, max_size=2),
    st.dictionaries(st.sampled_from(ATTACHMENT_FIELDS), json_values | any_text, max_size=2),
)
def test_no_json_body_makes_the_api_answer_500(service, valid, changes, attachment_changes):
    """A valid request with one or two fields (or attachment fields) set to anything."""
    client, sent, _ = service
    document = {**valid, **changes}
    if attachment_changes:
        document["attachments"] = [{"filename": "a.txt", "content": "YQ==", **attachment_changes}]
    result = client.simulate_post(
        "/send", body=json.dumps(document), content_type="application/json"
    )
    assert result.status_code in (200, 400, 422), result.json
    if result.status_code == 200:
        message, envelope = sent.pop()
        message.as_bytes()  # what every transport does with it: must not raise either
