"""Bodies, attachments, inline images, custom headers and tags, as a real SMTP peer receives them."""

import base64
import json
import os

import pytest

from dinky_falcon.hookspecs import hookimpl
from dinky_falcon.mailer import Mailer
from dinky_falcon.plugins import make_plugin_manager
from support.delivery import send_and_receive
from support.samples import SEED_REQUEST

TO = {"to": "recipient@example.org", "subject": "Test Email"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_text_and_html_make_a_multipart_alternative(client_and_sent, smtp_server):
    client, sent = client_and_sent
    _, message = send_and_receive(
        client, sent, smtp_server, dict(TO, text="Grüße, plain", html="<p>Grüße, <b>rich</b></p>")
    )
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content() == "Grüße, plain\n"
    assert html.get_content_type() == "text/html"
    assert html.get_content() == "<p>Grüße, <b>rich</b></p>\n"
    # Non-ASCII bodies travel quoted-printable: no 8BITMIME needed.
    assert {plain["Content-Transfer-Encoding"], html["Content-Transfer-Encoding"]} == {
        "quoted-printable"
    }


def test_html_alone_gets_a_plain_text_alternative_derived_from_it(client_and_sent, smtp_server):
    client, sent = client_and_sent
    html = (
        "<html><head><style>p {color: red}</style><title>T</title></head><body>"
        "<h1>Welcome&nbsp;aboard</h1><p>Read the <a href='https://example.org/terms'>terms</a>"
        " &amp; conditions.<br>Thanks</p><ul><li>one</li><li>two</li></ul>"
        "<script>alert(1)</script></body></html>"
    )
    _, message = send_and_receive(client, sent, smtp_server, dict(TO, html=html))
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    assert text == (
        "Welcome\xa0aboard\n\n"
        "Read the terms (https://example.org/terms) & conditions.\nThanks\n\n"
        "- one\n- two\n"
    )
    assert message.get_body(("html",)).get_content() == html + "\n"


def test_text_alone_is_a_single_plain_part(client_and_sent, smtp_server):
    client, sent = client_and_sent
    _, message = send_and_receive(client, sent, smtp_server, dict(TO, text="just text"))
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "just text\n"


def test_body_with_html_true_gets_a_text_alternative_derived_from_the_html(
    client_and_sent, smtp_server
):
    # HTML alone is what SpamAssassin scores as MIME_HTML_ONLY.
    client, sent = client_and_sent
    _, message = send_and_receive(client, sent, smtp_server, dict(TO, body="<p>Hi</p>", html=True))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("plain",)).get_content() == "Hi\n"


@pytest.mark.parametrize(
    "fields, where, fragment",
    [
        ({"body": "b", "text": "t"}, "text", "either 'body' or 'text'"),
        ({"body": "b", "html": "<p>h</p>"}, "html", "for two bodies"),
        ({"text": "t", "html": True}, "html", "give the html as 'html'"),
        ({"html": 3}, "html", "boolean, or the html body"),
        ({"text": "nul\x00"}, "text", "nul"),
        ({"html": False}, "body", "missing data"),
    ],
)
def test_conflicting_or_missing_bodies_are_a_422(client_and_sent, fields, where, fragment):
    client, _ = client_and_sent
    result = client.simulate_post("/send", json=dict(TO, **fields))
    assert result.status_code == 422
    assert fragment in json.dumps(result.json["details"][where]).lower()


def test_attachments_round_trip_byte_for_byte(client_and_sent, smtp_server):
    client, sent = client_and_sent
    blob = os.urandom(70_000) + bytes(range(256))
    attachments = [
        {"filename": "report.pdf", "content": b64(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")},
        {"filename": "data.bin", "content": b64(blob), "content_type": "application/x-custom"},
        {"filename": "Übersicht 2024.csv", "content": b64("a;b\nä;ö\n".encode())},
        {"filename": "no-extension", "content": b64(b"\x00raw")},
        # Clients that wrap base64 at 76 columns are understood.
        {"filename": "wrapped.txt", "content": base64.encodebytes(b"x" * 200).decode()},
    ]
    _, message = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, attachments=attachments)
    )
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("plain",)).get_content() == "This is a test email\n"
    found = [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    ]
    assert found == [
        ("report.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        ("data.bin", "application/x-custom", blob),
        ("Übersicht 2024.csv", "text/csv", "a;b\nä;ö\n".encode()),
        ("no-extension", "application/octet-stream", b"\x00raw"),
        ("wrapped.txt", "text/plain", b"x" * 200),
    ]
    assert all(
        part.get_content_disposition() == "attachment" for part in message.iter_attachments()
    )


def test_an_inline_image_is_related_to_the_html_by_content_id(client_and_sent, smtp_server):
    client, sent = client_and_sent
    logo = b"\x89PNG\r\n\x1a\n" + os.urandom(100)
    body = dict(
        TO,
        text="See the logo",
        html='<p>Logo: <img src="cid:logo@example.org" alt="our logo"></p>',
        attachments=[
            {"filename": "logo.png", "content": b64(logo), "content_id": "logo@example.org"},
            {"filename": "terms.txt", "content": b64(b"terms")},
        ],
    )
    _, message = send_and_receive(client, sent, smtp_server, body)
    assert message.get_content_type() == "multipart/mixed"
    alternative, terms = message.iter_parts()
    plain, related = alternative.iter_parts()
    assert (plain.get_content_type(), related.get_content_type()) == (
        "text/plain",
        "multipart/related",
    )
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == "<logo@example.org>"
    assert image.get_content_disposition() == "inline"
    assert image.get_payload(decode=True) == logo
    assert terms.get_filename() == "terms.txt"
    # MIME-Version belongs on the top level only.
    assert [p for p in message.walk() if p is not message and "MIME-Version" in p] == []


def test_an_inline_image_works_with_the_seed_html_body_too(client_and_sent, smtp_server):
    client, sent = client_and_sent
    attachment = {"filename": "a.gif", "content": b64(b"GIF89a"), "content_id": "a"}
    body = dict(TO, body='<img src="cid:a">', html=True, attachments=[attachment])
    _, message = send_and_receive(client, sent, smtp_server, body)
    assert message.get_content_type() == "multipart/alternative"
    related = message.get_payload()[1]
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/gif"]


@pytest.mark.parametrize(
    "attachment, where, fragment",
    [
        ({"filename": "a.txt", "content": "not base64!"}, "content", "not valid base64"),
        ({"filename": "a.txt", "content": "YWJ"}, "content", "not valid base64"),
        ({"filename": "a.txt", "content": "äöü"}, "content", "not valid base64"),
        ({"filename": "../etc/passwd", "content": "YQ=="}, "filename", "path separators"),
        ({"filename": "dir\\a.txt", "content": "YQ=="}, "filename", "path separators"),
        ({"filename": "..", "content": "YQ=="}, "filename", "path separators"),
        ({"filename": "a\r\nb.txt", "content": "YQ=="}, "filename", "control characters"),
        ({"filename": "a\x00.txt", "content": "YQ=="}, "filename", "control characters"),
        ({"filename": "", "content": "YQ=="}, "filename", "length"),
        ({"content": "YQ=="}, "filename", "missing data"),
        ({"filename": "a.txt"}, "content", "missing data"),
        (
            {"filename": "a", "content": "YQ==", "content_type": "text/plain; x=y"},
            "content_type",
            "mime type",
        ),
        (
            {"filename": "a", "content": "YQ==", "content_type": "Multipart/mixed"},
            "content_type",
            "cannot be attached",
        ),
        (
            {"filename": "a", "content": "YQ==", "content_type": "message/rfc822"},
            "content_type",
            "cannot be attached",
        ),
        (
            {"filename": "a", "content": "YQ==", "content_id": "<a>"},
            "content_id",
            "letters, digits",
        ),
        ({"filename": "a", "content": "YQ==", "size": 1}, "size", "unknown field"),
    ],
)
def test_a_bad_attachment_is_a_422_naming_the_field(client_and_sent, attachment, where, fragment):
    client, sent = client_and_sent
    result = client.simulate_post(
        "/send",
        json=dict(SEED_REQUEST, attachments=[{"filename": "ok", "content": ""}, attachment]),
    )
    assert result.status_code == 422
    assert fragment in json.dumps(result.json["details"]["attachments"]["1"][where]).lower()
    assert sent == []


def test_a_file_named_eml_is_attached_as_bytes(client_and_sent, smtp_server):
    client, sent = client_and_sent
    attachment = {"filename": "forwarded.eml", "content": b64(b"Subject: x\r\n\r\nbody\r\n")}
    _, message = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, attachments=[attachment])
    )
    (part,) = message.iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_payload(decode=True) == b"Subject: x\r\n\r\nbody\r\n"


def test_attachments_over_max_attachment_bytes_are_a_422(make_client):
    client, mailer = make_client(MAX_ATTACHMENT_BYTES="1000")
    attachments = [{"filename": f"{i}.bin", "content": b64(b"x" * 400)} for i in range(3)]
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, attachments=attachments))
    assert result.status_code == 422
    assert result.json["details"] == {
        "attachments": ["1200 bytes of attachments; at most 1000 are allowed."]
    }
    assert (
        client.simulate_post(
            "/send", json=dict(SEED_REQUEST, attachments=attachments[:2])
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "attachments, fragment",
    [
        ([{"filename": "a", "content": "YQ==", "content_id": "x"}], "give 'html'"),
        ([{"filename": "a", "content": "YQ==", "content_id": "x"}] * 2, "unique"),
    ],
)
def test_content_ids_need_html_and_must_be_unique(client_and_sent, attachments, fragment):
    client, _ = client_and_sent
    body = dict(TO, text="t", attachments=attachments)
    if fragment == "unique":
        body["html"] = "<img src='cid:x'>"
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 422
    assert fragment in result.json["details"]["attachments"][0]


def test_allowed_custom_headers_are_delivered(client_and_sent, smtp_server):
    client, sent = client_and_sent
    headers = {
        "X-Campaign": "spring sale",
        "X-Entity-Ref-ID": "Grüße aus Köln",
        "List-Unsubscribe": "<mailto:unsubscribe@example.org>, <https://example.org/u?id=1>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "In-Reply-To": "<original@example.org>",
    }
    _, message = send_and_receive(client, sent, smtp_server, dict(SEED_REQUEST, headers=headers))
    # (the parser keeps the space after a folded header's colon: strip it)
    assert {name: str(message[name]).strip() for name in headers} == headers


@pytest.mark.parametrize(
    "name",
    [
        "From",
        "to",
        "CC",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Reply-To",
        "Sender",
        "Return-Path",
        "Received",
        "DKIM-Signature",
        "X-Tags",
    ],
)
def test_headers_the_service_sets_cannot_be_set(client_and_sent, name):
    client, sent = client_and_sent
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, headers={name: "x"}))
    assert result.status_code == 422
    assert name in json.dumps(result.json["details"]["headers"])
    assert sent == []


@pytest.mark.parametrize(
    "headers, fragment",
    [
        ({"X-A": "one\r\nBcc: victim@example.org"}, "line breaks"),
        ({"X-A": "=?utf-8?q?one=0D=0ABcc:_victim@example.org?="}, "line breaks"),
        ({"X-A": "x" * 999}, "length"),
        ({"X-A": 5}, "not a valid string"),
        ({"X-Bad Name": "x"}, "not a valid header name"),
        ({"X-Bad:Name": "x"}, "not a valid header name"),
        ({"X-Ä": "x"}, "not a valid header name"),
        ({"X-A": "1", "x-a": "2"}, "given twice"),
        ({f"X-H{i}": "x" for i in range(21)}, "at most 20"),
    ],
)
def test_bad_custom_headers_are_a_422(client_and_sent, headers, fragment):
    client, _ = client_and_sent
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, headers=headers))
    assert result.status_code == 422
    assert fragment in json.dumps(result.json["details"]["headers"]).lower()


class TagRecorder:
    def __init__(self):
        self.seen = []

    @hookimpl
    def before_send(self, message, envelope, settings):
        self.seen.append(("before", envelope.tags))

    @hookimpl
    def after_send(self, message, envelope, transport, error):
        self.seen.append(("after", envelope.tags))


def test_tags_are_a_header_and_reach_the_hooks_on_the_envelope(make_settings, smtp_server):
    from dinky_falcon.app import create_app
    from support.clients import loopback_client

    settings = make_settings()
    pm = make_plugin_manager(settings)
    recorder = TagRecorder()
    pm.register(recorder)
    mailer = Mailer.from_settings(settings, pm)
    client = loopback_client(create_app(settings, mailer=mailer))
    sent = mailer.transports[0][1].sent
    _, message = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, tags=["contact-form", "site:example.org"])
    )
    assert message["X-Tags"] == "contact-form, site:example.org"
    assert recorder.seen == [
        ("before", ("contact-form", "site:example.org")),
        ("after", ("contact-form", "site:example.org")),
    ]


@pytest.mark.parametrize(
    "tags, fragment",
    [
        (["has space"], "only"),
        ([""], "only"),
        (["x" * 65], "only"),
        (["a,b"], "only"),
        (["t"] * 11, "10"),
        ("one", "not a valid list"),
    ],
)
def test_bad_tags_are_a_422(client_and_sent, tags, fragment):
    client, _ = client_and_sent
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, tags=tags))
    assert result.status_code == 422
    assert fragment in json.dumps(result.json["details"]["tags"]).lower()


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "x\ud800"},
        {"body": "\udfff"},
        {"headers": {"X-A": "\ud800"}},
        {"to": {"name": "A\udc00", "email": "a@example.org"}},
        {"attachments": [{"filename": "a\ud800.txt", "content": "YQ=="}]},
        {"sender_name": "\ud800"},
    ],
)
def test_a_lone_surrogate_escape_is_a_400_not_a_500(make_client, fields):
    client, _ = make_client(MAIL_TRANSPORT="file")  # the file sink writes the message out
    result = client.simulate_post(
        "/send", body=json.dumps(dict(SEED_REQUEST, **fields)), content_type="application/json"
    )
    assert result.status_code == 400
    assert "without its pair" in result.json["details"]


def test_an_escaped_surrogate_pair_is_one_character(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    raw = json.dumps(dict(SEED_REQUEST, subject="smile \U0001f600", body="a literal \\ud800"))
    assert "\\ud83d\\ude00" in raw
    assert (
        client.simulate_post("/send", body=raw, content_type="application/json").status_code == 200
    )
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert b"\\ud800" in eml.read_bytes()
