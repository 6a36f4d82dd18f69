"""to/cc/bcc, reply_to, from and sender_name, as a real SMTP peer receives them."""

import base64
import json

import pytest

from support.delivery import parse, relay, send_and_receive
from support.samples import SEED_REQUEST
from support.smtp_peer import SmtpPeer


def test_cc_is_a_header_and_bcc_is_only_in_the_envelope(client_and_sent, smtp_server):
    client, sent = client_and_sent
    received, message = send_and_receive(
        client,
        sent,
        smtp_server,
        dict(
            SEED_REQUEST,
            to="to@example.org",
            cc=["cc1@example.org", "cc2@example.org"],
            bcc="hidden@example.org",
        ),
    )
    assert received.rcpt_tos == (
        "to@example.org",
        "cc1@example.org",
        "cc2@example.org",
        "hidden@example.org",
    )
    assert message["To"] == "to@example.org"
    assert message["Cc"] == "cc1@example.org, cc2@example.org"
    assert "Bcc" not in message
    assert b"hidden" not in received.data


def test_an_address_given_twice_is_one_envelope_recipient(client_and_sent, smtp_server):
    client, sent = client_and_sent
    received, _ = send_and_receive(
        client,
        sent,
        smtp_server,
        dict(SEED_REQUEST, to="a@example.org", cc="a@EXAMPLE.org", bcc="a@example.org"),
    )
    assert received.rcpt_tos == ("a@example.org",)


def test_display_names_round_trip_including_non_ascii_and_specials(client_and_sent, smtp_server):
    client, sent = client_and_sent
    received, message = send_and_receive(
        client,
        sent,
        smtp_server,
        dict(
            SEED_REQUEST,
            to=[
                "Ada Lovelace <ada@example.org>",
                {"name": "Zoë Ünïcode, Jr.", "email": "zoe@example.org"},
            ],
            cc={"name": "李小龍", "email": "lee@example.org"},
            **{"from": '"Web Form" <form@example.org>'},
        ),
    )
    names = [(a.display_name, a.addr_spec) for a in message["To"].addresses]
    assert names == [("Ada Lovelace", "ada@example.org"), ("Zoë Ünïcode, Jr.", "zoe@example.org")]
    assert message["Cc"].addresses[0].display_name == "李小龍"
    assert message["From"].addresses[0].display_name == "Web Form"
    # Without SMTPUTF8 every header travels as ASCII: names are RFC 2047 encoded words.
    assert received.data.split(b"\r\n\r\n", 1)[0].isascii()
    assert received.smtputf8 is False


def test_a_long_non_ascii_name_does_not_hide_the_next_address(client_and_sent, smtp_server):
    # CPython's folder would put the comma after this name into an encoded word.
    client, sent = client_and_sent
    to = [{"name": "0¡¡¡ࠀ𐀀𐀀𐀀", "email": "first@bücher.example"}, "second@example.org"]
    received, message = send_and_receive(client, sent, smtp_server, dict(SEED_REQUEST, to=to))
    assert [a.addr_spec for a in message["To"].addresses] == [
        "first@xn--bcher-kva.example",
        "second@example.org",
    ]
    assert b"=2C" not in received.data


def test_an_internationalised_domain_is_sent_idna_encoded(client_and_sent, smtp_server):
    client, sent = client_and_sent
    received, message = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, to="Bücherwurm <leser@bücher.example>")
    )
    assert received.rcpt_tos == ("leser@xn--bcher-kva.example",)
    assert message["To"].addresses[0].addr_spec == "leser@xn--bcher-kva.example"


def test_a_non_ascii_local_part_goes_out_with_smtputf8(client_and_sent):
    client, sent = client_and_sent
    with SmtpPeer(smtputf8=True) as peer:
        received, message = send_and_receive(
            client,
            sent,
            peer,
            dict(SEED_REQUEST, to="Jörg <jörg@example.org>", bcc="zoë@example.org"),
        )
    assert received.smtputf8 is True
    assert received.rcpt_tos == ("jörg@example.org", "zoë@example.org")
    assert message["To"].addresses[0].username == "jörg"
    assert "zoë".encode() not in received.data


def test_only_a_bcc_with_a_non_ascii_local_part_needs_smtputf8_but_no_utf8_headers(client_and_sent):
    client, sent = client_and_sent
    client.simulate_post("/send", json=dict(SEED_REQUEST, bcc="zoë@example.org"))
    ((message, envelope),) = sent
    assert envelope.smtputf8 is True
    assert message.as_bytes().isascii()


def test_reply_to_accepts_one_address_or_a_list(client_and_sent, smtp_server):
    client, sent = client_and_sent
    _, one = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, reply_to="Visitor <v@example.net>")
    )
    assert one["Reply-To"] == "Visitor <v@example.net>"
    _, many = send_and_receive(
        client,
        sent,
        smtp_server,
        dict(SEED_REQUEST, reply_to=["v@example.net", {"email": "w@example.net"}]),
    )
    assert [a.addr_spec for a in many["Reply-To"].addresses] == ["v@example.net", "w@example.net"]


def test_sender_name_names_default_from(client_and_sent, smtp_server):
    client, sent = client_and_sent
    received, message = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, sender_name="Contact form of example.org")
    )
    assert received.mail_from == "noreply@example.org"
    assert message["From"].addresses[0].display_name == "Contact form of example.org"


def test_from_may_be_a_name_and_email_object(client_and_sent, smtp_server):
    client, sent = client_and_sent
    sender = {"name": "Boutique Éléonore", "email": "shop@example.org"}
    received, message = send_and_receive(
        client, sent, smtp_server, dict(SEED_REQUEST, **{"from": sender})
    )
    assert received.mail_from == "shop@example.org"
    assert (message["From"].addresses[0].display_name, message["From"].addresses[0].addr_spec) == (
        "Boutique Éléonore",
        "shop@example.org",
    )


def test_a_message_without_the_new_fields_has_none_of_their_headers(client_and_sent, smtp_server):
    client, sent = client_and_sent
    _, message = send_and_receive(client, sent, smtp_server, SEED_REQUEST)
    assert set(message.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    }


@pytest.mark.parametrize(
    "fields, where, fragment",
    [
        ({"cc": []}, "cc", "at least one"),
        ({"bcc": "not-an-address"}, "bcc", "@-sign"),
        ({"reply_to": ["ok@example.org", 7]}, "reply_to", "expected a string"),
        ({"to": {"name": "A", "email": "B <b@example.org>"}}, "to", "give the name in 'name'"),
        ({"to": {"email": "a@example.org", "mail": "x"}}, "to", "unknown field"),
        (
            {"to": {"name": "A\r\nBcc: x@example.org", "email": "a@example.org"}},
            "to",
            "line breaks",
        ),
        ({"to": {"name": "A"}}, "to", "string address is required"),
        ({"to": '"'}, "to", "single valid"),  # the stdlib parser raised IndexError: a 500
        ({"sender_name": "Shop", "from": "a@example.org"}, "sender_name", "with 'from'"),
        ({"sender_name": "Shop\nBcc: x@example.org"}, "sender_name", "line breaks"),
        # Encoded words are decoded by the email package: a hidden CRLF is a line break too.
        ({"subject": "=?utf-8?b?aGkNCkJjYzogeEBleGFtcGxlLm9yZw==?="}, "subject", "line breaks"),
        ({"to": "=?utf-8?q?A=0D=0ABcc:_x@example.org?= <a@example.org>"}, "to", "line breaks"),
        (
            {"to": {"name": "=?utf-8?q?A=0ABcc:_x@example.org?=", "email": "a@example.org"}},
            "to",
            "line breaks",
        ),
    ],
)
def test_a_bad_recipient_or_sender_field_is_a_422_naming_it(
    client_and_sent, fields, where, fragment
):
    client, sent = client_and_sent
    result = client.simulate_post("/send", json=dict(SEED_REQUEST, **fields))
    assert result.status_code == 422
    assert fragment in json.dumps(result.json["details"][where]).lower()
    assert sent == []


def test_max_recipients_counts_to_cc_and_bcc_together(make_client):
    client, mailer = make_client(MAX_RECIPIENTS="3")
    body = dict(
        SEED_REQUEST, to=["a@example.org", "b@example.org"], cc="c@example.org", bcc="d@example.org"
    )
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 422
    assert result.json["details"] == {
        "bcc": ["4 recipients in to, cc and bcc; at most 3 are allowed."]
    }
    assert mailer.transports[0][1].sent == []
    del body["bcc"]
    assert client.simulate_post("/send", json=body).status_code == 200


def test_the_envelope_sidecar_of_the_file_sink_names_every_recipient(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    body = dict(SEED_REQUEST, cc="cc@example.org", bcc=["hidden@example.org"], tags=["contact"])
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 200
    outbox = tmp_path / "outbox"
    (eml,) = outbox.glob("*.eml")
    sidecar = json.loads(eml.with_suffix(".envelope.json").read_text())
    assert sidecar == {
        "message_id": result.json["id"],
        "sender": "noreply@example.org",
        "recipients": ["recipient@example.org", "cc@example.org", "hidden@example.org"],
        "smtputf8": False,
        "tags": ["contact"],
    }
    assert b"hidden" not in eml.read_bytes()
    assert sorted(p.name for p in outbox.iterdir()) == sorted(
        [eml.name, eml.with_suffix(".envelope.json").name]
    )


def test_what_the_peer_receives_is_what_the_builder_made(client_and_sent, smtp_server):
    client, sent = client_and_sent
    attachment = {"filename": "a.bin", "content": base64.b64encode(b"\0\1").decode()}
    client.simulate_post("/send", json=dict(SEED_REQUEST, attachments=[attachment]))
    ((message, envelope),) = sent
    received = relay(smtp_server, message, envelope)
    assert received.data.replace(b"\r\n", b"\n") == message.as_bytes().replace(b"\r\n", b"\n")
    assert parse(received)["Message-ID"] == message["Message-ID"]
