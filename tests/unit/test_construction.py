"""Message shapes independent readers flagged (mblaze, munpack, SpamAssassin), written as those
readers expect them."""

import base64
import re

from dinky_falcon.mail.addresses import parse_mailbox
from dinky_falcon.mail.message import MessageBuilder
from dinky_falcon.web.schemas import SendSchema
from support.samples import parse_mail

OUTLOOK_ID = (
    "<" + "DM6PR04MB4345A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6@DM6PR04MB4345.namprd04.prod.outlook.com>"
)


def build(**fields) -> bytes:
    request = SendSchema().load(
        {"to": "ada@example.net", "subject": "Re: hi", "body": "x", **fields}
    )
    message, _ = MessageBuilder(parse_mailbox("noreply@example.org"), "example.org").build(request)
    return message.as_bytes()


def header_lines(raw: bytes, name: str) -> list[str]:
    """The physical lines of header ``name``: its first line and its continuation lines."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n", "\n")
    match = re.search(rf"^{name}: .*(?:\n[ \t].*)*", head, re.MULTILINE)
    return match.group(0).split("\n")


def test_long_msg_ids_are_folded_at_white_space_and_never_encoded():
    assert len(OUTLOOK_ID) == 87
    raw = build(headers={"In-Reply-To": OUTLOOK_ID, "References": f"<a@example.net> {OUTLOOK_ID}"})
    assert header_lines(raw, "In-Reply-To") == [f"In-Reply-To: {OUTLOOK_ID}"]
    assert header_lines(raw, "References") == ["References: <a@example.net>", f" {OUTLOOK_ID}"]
    parsed = parse_mail(raw)
    assert parsed["In-Reply-To"] == OUTLOOK_ID
    assert parsed["References"].split() == ["<a@example.net>", OUTLOOK_ID]


def test_many_references_fold_between_ids_within_the_line_limit():
    ids = [f"<message-{n}@example.net>" for n in range(12)]
    raw = build(headers={"References": " ".join(ids)})
    lines = header_lines(raw, "References")
    assert len(lines) > 1 and all(len(line) <= 78 for line in lines)
    assert "".join(lines).removeprefix("References: ").split() == ids
    assert b"=?" not in raw


def test_a_utf8_text_attachment_says_its_charset():
    content = base64.b64encode("Grüße\n".encode()).decode()
    raw = build(attachments=[{"filename": "notes.txt", "content": content}])
    (part,) = parse_mail(raw).iter_attachments()
    assert part.get_content_type() == "text/plain"
    assert part.get_content_charset() == "utf-8"
    assert part.get_content() == "Grüße\n"


def test_a_text_attachment_that_is_not_utf8_gets_no_charset_it_does_not_have():
    content = base64.b64encode("Grüße\n".encode("latin-1")).decode()
    raw = build(attachments=[{"filename": "notes.txt", "content": content}])
    (part,) = parse_mail(raw).iter_attachments()
    assert part.get_param("charset") is None


def test_a_non_ascii_attachment_name_is_also_an_rfc2047_name_on_content_type():
    content = base64.b64encode(b"%PDF-1.4").decode()
    raw = build(attachments=[{"filename": "Ångström résumé.pdf", "content": content}])
    assert b'\r\n name="=?utf-8?b?w4VuZ3N0csO2bSByw6lzdW3DqS5wZGY=?="\r\n' in raw  # munpack
    assert b"filename*=utf-8''%C3%85ngstr%C3%B6m%20r%C3%A9sum%C3%A9.pdf" in raw  # RFC 2231
    (part,) = parse_mail(raw).iter_attachments()
    assert part.get_filename() == "Ångström résumé.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_param("name") == "Ångström résumé.pdf"


def test_an_ascii_attachment_name_is_left_as_the_email_package_writes_it():
    raw = build(attachments=[{"filename": "report.pdf", "content": "JVBERi0="}])
    assert b"Content-Type: application/pdf\r\n" in raw
    assert b'filename="report.pdf"' in raw
