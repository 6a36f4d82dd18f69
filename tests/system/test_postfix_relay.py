"""The Postfix relay, as configure-postfix sets it up, running as Debian's real postfix.

Postfix listens on a free 127.0.0.1 port and relays to the aiosmtpd Gmail stand-in (STARTTLS
with a trustme certificate, AUTH required). Mail is injected with smtplib here; the tests
through the HTTP API with the postfix transport live in test_postfix_api.py.
"""

import email
import email.policy
import re
import smtplib
import ssl
import subprocess
from email.message import EmailMessage

import pytest
import trustme

from support.postfix_harness import (  # noqa: F401 (fixtures)
    PASSWORD,
    REPO,
    USERNAME,
    PostfixRelay,
    wait_for,
)
from support.smtp_peer import SmtpPeer, free_port


def contact_form_message(subject="Contact form: hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Website <noreply@example.org>"
    message["To"] = "owner@example.net"
    message["Reply-To"] = "visitor@example.com"
    message["Subject"] = subject
    message["Message-ID"] = "<contact-1@example.org>"
    message["X-Mailer"] = "dinky-falcon tests"
    message.set_content("Hello from the contact form.\nSecond line: déjà vu.\n")
    return message


def inject(relay: PostfixRelay, message: EmailMessage, source: str = "127.0.0.1") -> None:
    with relay.client(source) as client:
        client.send_message(message)


def headers_of(received) -> email.message.EmailMessage:
    return email.message_from_bytes(received.data, policy=email.policy.default)


def test_a_message_reaches_the_relay_over_verified_tls_with_the_configured_login(
    gmail_server, make_postfix
):
    relay = make_postfix(gmail_server.port)
    inject(relay, contact_form_message())

    (received,) = wait_for(lambda: gmail_server.messages, what="the relay to receive the message")
    assert received.tls is True
    assert received.login == USERNAME.encode()
    assert received.mail_from == "noreply@example.org"
    assert received.rcpt_tos == ("owner@example.net",)
    delivered = headers_of(received)
    original = contact_form_message()
    for name in ("From", "To", "Reply-To", "Subject", "Message-ID", "X-Mailer"):
        assert delivered[name] == original[name]
    assert delivered.get_content().replace("\r\n", "\n") == original.get_content()
    assert "Verified TLS connection established to localhost" in relay.log()
    assert relay.queued() == []


def test_with_the_relay_down_mail_is_queued_and_arrives_once_it_is_back(tls_ca, make_postfix):
    port = free_port()  # nothing listens here yet: the relay is down
    relay = make_postfix(port)
    inject(relay, contact_form_message("queued while the relay was down"))

    (deferred,) = wait_for(relay.deferred, what="the message to be deferred")
    assert "Connection refused" in deferred["recipients"][0]["delay_reason"]

    with SmtpPeer(ca=tls_ca, username=USERNAME, password=PASSWORD, port=port) as gmail:
        relay.flush()
        (received,) = wait_for(lambda: gmail.messages, what="the queued message after a flush")
        assert headers_of(received)["Subject"] == "queued while the relay was down"
        assert received.tls is True
        wait_for(lambda: relay.queued() == [], what="the queue to empty")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_an_untrusted_relay_certificate_keeps_mail_deferred_and_never_sends_it_in_clear(
    tmp_path, make_postfix
):
    impostor_ca = trustme.CA()  # the relay's certificate comes from a CA Postfix does not trust
    # This relay would even take the login and the message without TLS: Postfix must not.
    with SmtpPeer(
        ca=impostor_ca, username=USERNAME, password=PASSWORD, require_tls=False
    ) as impostor:
        relay = make_postfix(impostor.port)
        inject(relay, contact_form_message())

        (deferred,) = wait_for(relay.deferred, what="the message to be deferred")
        reason = deferred["recipients"][0]["delay_reason"]
        assert "certificate" in reason.lower() or "TLS" in reason
        tries = impostor.connections
        assert tries >= 1
        relay.flush()  # trying again changes nothing
        wait_for(lambda: impostor.connections > tries, what="a second attempt")
        wait_for(relay.deferred, what="the message to be deferred again")
        assert impostor.messages == []
        assert [m["queue_name"] for m in relay.queued()] == ["deferred"]


def test_without_verification_mail_is_still_encrypted_or_not_sent_at_all(
    tls_ca, smtp_server, make_postfix
):
    impostor_ca = trustme.CA()
    with SmtpPeer(ca=impostor_ca, username=USERNAME, password=PASSWORD) as unverified:
        relay = make_postfix(unverified.port, TLS_VERIFY="no")
        inject(relay, contact_form_message())
        (received,) = wait_for(lambda: unverified.messages, what="delivery with TLS_VERIFY=no")
        assert received.tls is True

    # A relay without STARTTLS at all (the plain peer takes anything): mail waits instead.
    relay = make_postfix(smtp_server.port, TLS_VERIFY="no")
    inject(relay, contact_form_message())
    (deferred,) = wait_for(relay.deferred, what="the message to be deferred")
    assert "TLS" in deferred["recipients"][0]["delay_reason"]
    assert smtp_server.messages == []


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"])
def test_only_clients_in_mynetworks_may_relay(source, gmail_server, make_postfix):
    relay = make_postfix(gmail_server.port)  # MYNETWORKS unset: 127.0.0.1/32 only
    allowed = source == "127.0.0.1"
    with relay.client(source) as client:
        client.ehlo()
        client.mail("noreply@example.org")
        code, reply = client.rcpt("someone@outside.example")
    if allowed:
        assert code == 250
    else:
        assert code == 554 and b"Relay access denied" in reply


def test_a_network_named_in_mynetworks_may_relay(gmail_server, make_postfix):
    relay = make_postfix(gmail_server.port, MYNETWORKS="127.0.0.2/32")
    inject(relay, contact_form_message(), source="127.0.0.2")
    (received,) = wait_for(lambda: gmail_server.messages, what="relayed mail from 127.0.0.2")
    assert received.rcpt_tos == ("owner@example.net",)


def test_submission_requires_tls_before_auth_and_a_login_to_relay(
    tls_ca, gmail_server, make_postfix
):
    relay = make_postfix(gmail_server.port)
    with relay.client("127.0.0.1", port=relay.submission_port) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        code, _ = client.mail("noreply@example.org")
        assert code == 530  # "Must issue a STARTTLS command first"
    with relay.client("127.0.0.1", port=relay.submission_port) as client:
        client.starttls(context=ssl.create_default_context(cadata=tls_ca.cert_pem.bytes().decode()))
        client.ehlo()
        assert "PLAIN" in client.esmtp_features["auth"] and "LOGIN" in client.esmtp_features["auth"]
        client.mail("noreply@example.org")
        code, _ = client.rcpt("someone@outside.example")
        assert code == 554  # even from loopback: 587 is for logins only
    assert gmail_server.messages == []


def test_a_submission_login_relays_from_outside_mynetworks(tls_ca, gmail_server, make_postfix):
    relay = make_postfix(
        gmail_server.port, SUBMISSION_USERNAME="cron@example.org", SUBMISSION_PASSWORD="s3cret $x:y"
    )
    context = ssl.create_default_context(cadata=tls_ca.cert_pem.bytes().decode())
    with relay.client("127.0.0.2", port=relay.submission_port) as client:
        client.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("cron@example.org", "wrong")
    with relay.client("127.0.0.2", port=relay.submission_port) as client:
        client.starttls(context=context)
        client.login("cron@example.org", "s3cret $x:y")
        client.send_message(contact_form_message())
    (received,) = wait_for(lambda: gmail_server.messages, what="mail submitted on 587")
    assert received.rcpt_tos == ("owner@example.net",) and received.tls is True


def test_the_healthcheck_listener_answers_with_the_banner(gmail_server, make_postfix):
    relay = make_postfix(gmail_server.port)
    with smtplib.SMTP() as client:
        code, banner = client.connect("127.0.0.1", relay.healthcheck_port)
    assert code == 220 and banner.startswith(b"mail.example.org ESMTP")


def test_a_password_with_spaces_dollar_and_colon_works(tls_ca, make_postfix):
    typed = "p4ss $HOME:w0rd $$x\\y 'q\" #h"
    meant = "p4ss$HOME:w0rd$$x\\y'q\"#h"  # the spaces go, as for a Gmail App Password
    with SmtpPeer(ca=tls_ca, username=USERNAME, password=meant) as gmail:
        relay = make_postfix(gmail.port, SMTP_RELAY_PASSWORD=typed)
        inject(relay, contact_form_message())
        (received,) = wait_for(lambda: gmail.messages, what="delivery with the odd password")
        assert received.login == USERNAME.encode()
        assert "$HOME" not in (relay.etc / "main.cf").read_text()


def test_the_container_log_drops_healthcheck_probes_and_keeps_mail(gmail_server, make_postfix):
    relay = make_postfix(gmail_server.port)
    with smtplib.SMTP("127.0.0.1", relay.healthcheck_port) as probe:
        probe.noop()
    inject(relay, contact_form_message())
    wait_for(lambda: "status=sent" in relay.log(), what="the delivery in the log")
    entrypoint = (REPO / "compose" / "mail-server" / "entrypoint").read_text()
    (pattern,) = re.findall(r"^grep --line-buffered -v '([^']*)'", entrypoint, re.M)
    shown = subprocess.run(
        ["grep", "-v", pattern], input=relay.log(), capture_output=True, text=True, check=True
    ).stdout
    assert "postfix/healthcheck/smtpd" in relay.log()
    assert "healthcheck" not in shown
    assert "status=sent" in shown and "connect from" in shown
