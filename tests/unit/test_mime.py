"""The fast paths (mime.py, addresses.split_name_addr) write and read what the email package would."""

from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dinky_falcon.mail.mime import MAX_LINE, header_value, set_text_body
from support.samples import parse_mail

POLICIES = [SMTP.clone(refold_source="none"), SMTPUTF8.clone(refold_source="none")]
# Header text as the schema lets it through: one line, any language, odd spacing.
header_text = st.text(
    st.sampled_from(list(" \t=?abcXYZ:;,<>\"()'ÄéŁ東\U0001f600"))
    | st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,  # an empty value differs in a trailing space only ("Name: " and "Name:")
    max_size=120,
)
body_text = st.text(
    st.sampled_from(list("\r\n\t .=Äé東\U0001f600")) | st.characters(blacklist_categories=("Cs",)),
    max_size=300,
) | st.builds(
    lambda word, n: (word + " ") * n, st.sampled_from(["a", "long-word", "é"]), st.integers(0, 60)
)


def reference_header(policy, name: str, value: str) -> bytes:
    message = EmailMessage(policy=policy)
    message[name] = value
    return bytes(message)


def built_header(policy, name: str, value: str) -> bytes:
    message = EmailMessage(policy=policy)
    message.set_raw(name, header_value(policy, name, value))
    return bytes(message)


@pytest.mark.parametrize("policy", POLICIES, ids=["ascii", "smtputf8"])
@settings(max_examples=300, deadline=None)
@given(
    value=header_text,
    name=st.sampled_from(["Subject", "X-Tags", "Comments", "X-A-Rather-Long-Header-Name"]),
)
def test_a_header_value_is_emitted_as_the_email_package_emits_it(policy, name, value):
    assert built_header(policy, name, value) == reference_header(policy, name, value)


def test_a_short_plain_header_is_kept_as_it_is():
    assert header_value(POLICIES[0], "Subject", "Contact form: hello") == "Contact form: hello"


def reference_body(text: str, subtype: str) -> bytes:
    message = EmailMessage(policy=POLICIES[0])
    short_ascii = text.isascii() and all(len(l) <= MAX_LINE for l in text.encode().splitlines())
    message.set_content(text, subtype=subtype, cte=None if short_ascii else "quoted-printable")
    return message.as_bytes()


@settings(max_examples=300, deadline=None)
@given(text=body_text, subtype=st.sampled_from(["plain", "html"]))
def test_a_text_body_is_the_email_packages_own_encoding_of_it(text, subtype):
    message = EmailMessage(policy=POLICIES[0])
    set_text_body(message, text, subtype)
    data = message.as_bytes()
    assert data == reference_body(text, subtype)
    assert all(len(line) <= MAX_LINE for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert same_lines(parse_mail(data).get_content(), text)


def same_lines(received: str, sent: str) -> bool:
    """Equal up to line-end conventions (CRLF, CR, LF) and the final line end mail adds."""

    def lines(text):
        return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")

    return lines(received) == lines(sent)


atoms = st.text(st.sampled_from(list("aZ09!#$%&'*+/=?^_`{|}~-")), min_size=1, max_size=8)
name_addrs = st.builds(
    "{} <{}@{}>".format,
    st.lists(atoms, min_size=1, max_size=4).map(" ".join),
    st.lists(atoms, min_size=1, max_size=3).map(".".join),
    st.sampled_from(["example.org", "mail.example-1.net", "x"]),
) | st.text(st.sampled_from(list('aé <>@."=?, ()')), max_size=30)


@settings(max_examples=500, deadline=None)
@given(text=name_addrs)
def test_a_simple_mailbox_splits_as_the_header_parser_splits_it(text):
    from dinky_falcon.mail.addresses import AddressError, parse_name_addr, split_name_addr

    def outcome(split):
        try:
            return split(text)
        except AddressError:
            return "refused"

    assert outcome(split_name_addr) == outcome(parse_name_addr)


requests = st.fixed_dictionaries(
    {
        "to": st.lists(
            st.sampled_from(
                [
                    "a@example.org",
                    "Zoë Ä <z@example.org>",
                    "ü@example.org",
                    "Ada Lovelace <ada@example.net>",
                ]
            ),
            min_size=1,
            max_size=3,
        ),
        "subject": header_text,
        "body": body_text,
    },
    optional={
        "html": st.booleans(),
        "from": st.sampled_from(["Site <s@example.org>", "s@example.org"]),
        "headers": st.dictionaries(
            st.sampled_from(["X-Campaign", "Comments"]), header_text, max_size=2
        ),
        "tags": st.lists(st.sampled_from(["a", "contact-form"]), max_size=2, unique=True),
    },
)


@settings(max_examples=300, deadline=None)
@given(body=requests)
def test_the_bytes_written_at_build_time_are_what_the_generator_writes(body):
    from marshmallow import ValidationError

    from dinky_falcon.mail.addresses import parse_mailbox
    from dinky_falcon.mail.message import MessageBuilder
    from dinky_falcon.web.schemas import SendSchema

    try:
        request = SendSchema().load(body)
    except ValidationError:
        return
    message, _ = MessageBuilder(parse_mailbox("noreply@example.org"), "example.org").build(request)
    # Single-part (mime.flatten_single_part) or multipart, with the HTML's text alternative
    # (wire.flatten): written at build time either way, as the generator writes it.
    assert message.wire is not None
    assert message.wire == EmailMessage.as_bytes(message)


def test_control_characters_that_str_splitlines_breaks_on_stay_inside_their_line():
    from dinky_falcon.mail.addresses import parse_mailbox
    from dinky_falcon.mail.message import MessageBuilder
    from dinky_falcon.web.schemas import SendSchema

    request = SendSchema().load(
        {"to": "a@example.org", "subject": "x", "body": "a\x1eb\x0cc\x1cd\n"}
    )
    message, _ = MessageBuilder(parse_mailbox("noreply@example.org"), "example.org").build(request)
    assert message.wire == EmailMessage.as_bytes(message)
    assert message.wire.endswith(b"\r\n\r\na\x1eb\x0cc\x1cd\r\n")
