"""wire.py writes a built message as the email package's generator would, without holding its
attachments' base64 text: for any attachments, bodies and names, the bytes equal the
generator's, and the email package parses every attachment back to the very bytes sent."""

from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser

from hypothesis import given, settings
from hypothesis import strategies as st

from dinky_falcon.mail.message import MessageBuilder
from dinky_falcon.mail.request import SendRequest, make_attachment
from dinky_falcon.mail.wire import Base64Part, flatten

BUILDER = MessageBuilder(Address("Site", "noreply", "example.org"), "example.org")
NAMES = st.from_regex(r"[A-Za-z0-9ÄÖÜäöüßé][A-Za-z0-9 ._ÄÖÜäöüßé-]{0,40}", fullmatch=True)
TYPES = st.sampled_from(
    ["application/octet-stream", "application/pdf", "image/png", "text/plain", "text/csv", None]
)
CONTENTS = st.binary(max_size=3000) | st.text(max_size=300).map(str.encode)
TEXTS = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]) | st.just("\n"), max_size=300)
attachments = st.lists(
    st.builds(
        make_attachment,
        NAMES,
        CONTENTS,
        TYPES,
        st.none() | st.from_regex(r"[a-z0-9]{1,10}@example\.org", fullmatch=True),
    ),
    max_size=4,
    unique_by=lambda attachment: attachment.content_id or id(attachment),
)


def request(attachments, text, html) -> SendRequest:
    if html is None:  # inline parts belong to an HTML body
        attachments = [a for a in attachments if a.content_id is None]
    return SendRequest(
        to=(Address("", "ada", "example.net"),),
        subject="files",
        text=text,
        html_body=html,
        attachments=tuple(attachments),
    )


def parsed_attachments(wire: bytes) -> list[tuple[str, str, bytes, str | None]]:
    parsed = BytesParser(policy=policy.default).parsebytes(wire)
    found = []
    for part in parsed.walk():
        if part.get_filename() is not None:
            cid = part["Content-ID"]
            found.append(
                (
                    part.get_filename(),
                    part.get_content_type(),
                    part.get_payload(decode=True),
                    cid and cid.strip("<>"),
                )
            )
    return found


@settings(max_examples=200, deadline=None)
@given(attachments=attachments, text=TEXTS, html=st.none() | TEXTS.map(lambda t: f"<p>{t}</p>"))
def test_attachments_arrive_as_the_very_bytes_sent_written_as_the_generator_writes(
    attachments, text, html
):
    asked = request(attachments, text, html)
    message, _ = BUILDER.build(asked)
    if not message.is_multipart():
        return  # one text part: mime.flatten_single_part, tests/unit/test_mime.py
    assert message.wire == EmailMessage.as_bytes(message)  # the generator, same boundaries
    sent = [(a.filename, a.content_type, a.content, a.content_id) for a in asked.attachments]
    assert sorted(parsed_attachments(message.wire), key=repr) == sorted(sent, key=repr)


@given(data=st.binary(max_size=5000))
def test_an_attachment_part_reads_as_the_email_package_would_have_stored_it(data):
    kept, stored = Base64Part(), EmailMessage()
    kept.set_content(b"", "application", "octet-stream", filename="a.bin")
    kept.content = data
    stored.set_content(data, "application", "octet-stream", filename="a.bin")
    assert kept.get_payload() == stored.get_payload()
    assert kept.get_content() == data
    assert not kept.is_multipart()
    assert kept.as_bytes() == stored.as_bytes()


def test_a_payload_set_on_an_attachment_part_replaces_its_bytes():
    part = Base64Part()
    part.set_content(b"", "application", "octet-stream", filename="a.bin")
    part.content = b"old bytes"
    part.set_payload("bmV3\n")
    assert part.get_content() == b"new"


def test_a_message_with_a_preamble_is_left_to_the_email_package():
    message, _ = BUILDER.build(
        request([make_attachment("a.bin", b"\x00\x01")], "see the file", None)
    )
    message.preamble = "This is a MIME message."
    assert flatten(message) is None
    assert b"This is a MIME message." in EmailMessage.as_bytes(message)
