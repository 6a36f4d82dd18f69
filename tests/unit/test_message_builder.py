"""The message as a mail client sees it: headers, ids, dates and encodings."""

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

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


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)), None])
# A few wall times that repeat, within one second or as one instant in two zones (09:30 UTC
# is 10:30 at +01:00), and any other.
INSTANTS = st.sampled_from(
    [datetime(2026, 11, 24, 9, 30), datetime(2026, 11, 24, 9, 30, 0, 999999)]
    + [datetime(2026, 11, 24, 10, 30), datetime(2026, 11, 24, 9, 30, 1)]
) | st.datetimes(datetime(2001, 1, 1), datetime(2100, 1, 1))


@given(st.lists(st.tuples(INSTANTS, ZONES), min_size=1, max_size=20))
def test_each_date_header_is_the_one_the_email_package_writes_for_its_clock(times):
    """The Date header is written once a second and reused: never for another second or
    another zone (the same instant in two zones is two headers)."""
    clock = iter(when.replace(tzinfo=zone) for when, zone in times)
    builder = MessageBuilder(parse_mailbox("noreply@example.com"), "example.com", clock.__next__)
    for when, zone in times:
        assert builder.date() == format_datetime(when.replace(tzinfo=zone))
