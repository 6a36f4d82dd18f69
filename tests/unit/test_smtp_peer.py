"""The test SMTP peers themselves behave like the servers they stand in for."""

import smtplib
import ssl

import pytest


def test_the_plain_peer_records_messages_and_connections(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: hi\r\n\r\nbody\r\n")
        client.sendmail("a@example.org", ["c@example.org"], b"Subject: again\r\n\r\nbody\r\n")
    assert smtp_server.connections == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("b@example.org",), ("c@example.org",)]
    assert smtp_server.messages[0].tls is False


def test_the_gmail_peer_requires_starttls_and_auth(gmail_server, trusted_ca):
    with smtplib.SMTP(gmail_server.host, gmail_server.port) as client:
        with pytest.raises(smtplib.SMTPException):
            client.sendmail("a@example.org", ["b@example.org"], b"x")
    with smtplib.SMTP(gmail_server.host, gmail_server.port) as client:
        client.starttls(context=ssl.create_default_context(cafile=str(trusted_ca)))
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("site@example.org", "wrong")
        assert refused.value.smtp_code == 535
        client.login("site@example.org", "abcdefghijklmnop")
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: hi\r\n\r\nbody\r\n")
    (received,) = gmail_server.messages
    assert received.tls is True
    assert received.login == b"site@example.org"


def test_the_peer_takes_a_message_in_bdat_chunks_as_rfc_3030_says(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        client.ehlo()
        assert client.has_extn("chunking") and client.has_extn("pipelining")
        client.mail("a@example.org")
        client.send(b"BDAT 5\r\nnot r")  # without RCPT: read, then refused
        assert client.getreply()[0] == 554
        client.rset()
        client.mail("a@example.org")
        client.rcpt("b@example.org")
        client.send(b"BDAT 12\r\nSubject: hi\r")
        assert client.getreply() == (250, b"2.0.0 12 octets received")
        client.send(b"BDAT 9 LAST\r\n\n\r\nbody\r\n")
        assert client.getreply()[0] == 250
    (received,) = smtp_server.messages
    assert received.data == b"Subject: hi\r\n\r\nbody\r\n"
    assert received.rcpt_tos == ("b@example.org",)
