"""The message as a mail client sees it: headers, ids, dates and encodings."""

from datetime import UTC, datetime

from dinky_falcon.mail.addresses import parse_mailbox
from dinky_falcon.mail.message import MessageBuilder
from dinky_falcon.web.schemas import SendSchema
from support.samples import parse_mail

FIXED_TIME = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def build(**fields):
    request = SendSchema().load({"to": "a@example.org", "subject": "Hi", "body": "Hello", **fields})
    builder = MessageBuilder(
        parse_mailbox("noreply@example.com"), "example.com", clock=lambda: FIXED_TIME
    )
    message, envelope = builder.build(request)
    return parse_mail(message.as_bytes()), envelope


def test_date_and_message_id_are_set_under_mail_domain():
    parsed, _ = build()
    assert parsed["Date"] == "Tue, 24 Nov 2026 09:30:00 +0000"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["MIME-Version"] == "1.0"


def test_non_ascii_subject_names_and_body_are_encoded_and_round_trip():
    raw_message, envelope = build(
        to="Zoë Ångström <zoe@example.org>", subject="Grüße — 東京", body="Hällo wörld ✓"
    )
    raw = raw_message.as_bytes()
    assert raw.isascii(), "headers and body must travel as 7-bit"
    assert raw_message["Subject"] == "Grüße — 東京"
    assert raw_message["To"].addresses[0].display_name == "Zoë Ångström"
    assert raw_message.get_content() == "Hällo wörld ✓\n"
    assert raw_message["Content-Transfer-Encoding"] == "quoted-printable"
    assert envelope.recipients == ("zoe@example.org",)


def test_html_body_is_text_html_and_plain_is_text_plain():
    html, _ = build(body="<p>Hi</p>", html=True)
    plain, _ = build()
    assert html.get_body(("html",)).get_content_charset() == "utf-8"
    assert plain.get_content_type() == "text/plain"


def test_very_long_lines_are_wrapped_to_the_smtp_limit():
    parsed, _ = build(body="x" * 5000)
    raw = parsed.as_bytes()
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    assert parsed.get_content().rstrip("\n") == "x" * 5000


def test_internationalised_domains_travel_as_punycode():
    parsed, envelope = build(to="info@bücher.example")
    assert envelope.recipients == ("info@xn--bcher-kva.example",)
    assert parsed["To"] == "info@xn--bcher-kva.example"
