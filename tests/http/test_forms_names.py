"""Form mail names people: the visitor's name on Reply-To, a display name per form on From."""

import pytest

from dinky_falcon.errors import ConfigError

JSON = {"Accept": "application/json"}
# What the email package decodes to a line break and a header of the visitor's choosing.
HIDDEN_CRLF = "=?utf-8?q?Ada=0D=0ABcc:_victim@example.net?="


def sent_message(client, mailer, fields):
    result = client.simulate_post("/forms/contact", json=fields, headers=JSON)
    assert result.status_code == 200, result.json
    ((message, _),) = mailer.transports[0][1].sent
    return message


def test_reply_to_carries_the_visitors_name(make_client):
    client, mailer = make_client(FORM_CONTACT_TO="team@example.org")
    message = sent_message(
        client, mailer, {"name": "Ada  Lovelace", "email": "ada@example.net", "message": "hi"}
    )
    assert str(message["Reply-To"]) == "Ada Lovelace <ada@example.net>"


def test_a_name_given_with_the_address_is_kept_and_another_field_can_hold_the_name(make_client):
    client, mailer = make_client(FORM_CONTACT_TO="team@example.org", FORM_CONTACT_NAME_FIELD="who")
    message = sent_message(
        client, mailer, {"who": "Grace Hopper", "email": "grace@example.net", "message": "hi"}
    )
    assert str(message["Reply-To"]) == "Grace Hopper <grace@example.net>"
    client, mailer = make_client(FORM_CONTACT_TO="team@example.org")
    fields = {"name": "Someone Else", "email": "Ada Lovelace <ada@example.net>"}
    message = sent_message(client, mailer, fields)
    assert str(message["Reply-To"]) == "Ada Lovelace <ada@example.net>"


@pytest.mark.parametrize("name", [HIDDEN_CRLF, "Ada\nBcc: victim@example.net", "A" * 101])
def test_a_name_that_is_no_safe_header_text_leaves_reply_to_a_bare_address(make_client, name):
    client, mailer = make_client(FORM_CONTACT_TO="team@example.org")
    message = sent_message(client, mailer, {"name": name, "email": "ada@example.net"})
    assert str(message["Reply-To"]) == "ada@example.net"
    assert message["Bcc"] is None
    assert [n.lower() for n in message.keys()].count("reply-to") == 1


def test_a_form_may_name_its_sender(make_client):
    client, mailer = make_client(
        FORM_CONTACT_TO="team@example.org", FORM_CONTACT_FROM_NAME="Website of example.org"
    )
    message = sent_message(client, mailer, {"name": "Ada", "email": "ada@example.net"})
    assert message["From"].addresses[0].display_name == "Website of example.org"
    assert message["From"].addresses[0].username == "noreply"  # DEFAULT_FROM's address


def test_a_from_name_that_is_no_header_text_stops_the_start(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings(FORM_CONTACT_TO="team@example.org", FORM_CONTACT_FROM_NAME=HIDDEN_CRLF)
    assert "from_name: must be one line" in str(error.value)
