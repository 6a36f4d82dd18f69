"""The postfix and gmail/relay transports against real SMTP peers on 127.0.0.1."""

import logging
import socket
import time
from email import message_from_bytes

import pytest

from dinky_falcon import ConfigError
from dinky_falcon.mail.message import Envelope
from dinky_falcon.mailer import Mailer
from dinky_falcon.transports.smtp import (
    IMPLICIT,
    OPPORTUNISTIC,
    PLAIN,
    Endpoint,
    SmtpTransport,
)
from support.samples import SEED_REQUEST
from support.smtp_peer import SmtpPeer, free_port

RELAY_PASSWORD = "abcdefghijklmnop"


@pytest.fixture
def relay(gmail_server):
    """Variables that select the gmail transport and point it at the Gmail stand-in."""
    return dict(
        MAIL_TRANSPORT="gmail",
        SMTP_RELAY_HOST=gmail_server.host,
        SMTP_RELAY_PORT=str(gmail_server.port),
        SMTP_RELAY_USERNAME="site@example.org",
        SMTP_RELAY_PASSWORD=RELAY_PASSWORD,
        SMTP_TIMEOUT="2",
    )


@pytest.fixture
def postfix(smtp_server):
    """Variables that select the postfix transport and point it at the plain peer."""
    return dict(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST=smtp_server.host,
        SMTP_PORT=str(smtp_server.port),
        SMTP_TIMEOUT="2",
    )


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never says a word: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def postfix_down_then(relay: dict) -> dict:
    """Failover from postfix, on a port where nothing listens, to the relay."""
    return dict(
        relay, MAIL_TRANSPORT="postfix,gmail", SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port())
    )


def delivered_ids(peer) -> list[str]:
    return [message_from_bytes(m.data)["Message-ID"] for m in peer.messages]


def test_gmail_delivers_over_verified_starttls_as_the_configured_user(
    make_client, relay, gmail_server, trusted_ca
):
    client, _ = make_client(**relay)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 200, result.json
    assert result.json["transport"] == "gmail"
    (received,) = gmail_server.messages
    assert received.tls is True
    assert received.login == b"site@example.org"
    assert received.mail_from == "noreply@example.org"
    assert received.rcpt_tos == ("recipient@example.org",)
    assert delivered_ids(gmail_server) == [result.json["id"]]


def test_relay_is_another_name_for_the_gmail_transport(
    make_client, relay, gmail_server, trusted_ca
):
    client, _ = make_client(**dict(relay, MAIL_TRANSPORT="relay"))
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.json["transport"] == "relay"
    assert len(gmail_server.messages) == 1


# The implicit TLS peer requires AUTH without STARTTLS, which aiosmtpd warns about.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_port_465_means_implicit_tls(make_settings, relay, tls_ca, trusted_ca):
    settings = make_settings(**dict(relay, SMTP_RELAY_PORT="465"))
    ((_, transport),) = Mailer.from_settings(settings).transports
    assert transport.endpoint.tls == IMPLICIT
    implicit_peer = SmtpPeer(
        ca=tls_ca, username="site@example.org", password=RELAY_PASSWORD, implicit_tls=True
    )
    with implicit_peer as peer:
        endpoint = Endpoint(
            peer.host,
            peer.port,
            IMPLICIT,
            2,
            "example.org",
            True,
            "site@example.org",
            RELAY_PASSWORD,
        )
        implicit = SmtpTransport(endpoint, pool_size=1)
        message = message_from_bytes(b"Subject: hi\r\n\r\nbody\r\n")
        implicit.send(message, Envelope("a@example.org", ("b@example.org",)))
        implicit.close()
    (received,) = peer.messages
    assert received.tls is True
    assert received.login == b"site@example.org"


def test_an_untrusted_certificate_is_refused_when_tls_verify_is_on(
    make_client, relay, gmail_server, monkeypatch
):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    client, _ = make_client(**relay)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503
    assert result.headers["Retry-After"]
    assert "certificate" in result.json["details"]
    assert "TLS_VERIFY=no" in result.json["details"]
    assert gmail_server.messages == []


def test_tls_verify_no_encrypts_without_verifying_and_warns_at_start(
    make_client, relay, gmail_server, monkeypatch, caplog
):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with caplog.at_level(logging.WARNING):
        client, _ = make_client(**dict(relay, TLS_VERIFY="no"))
    assert "TLS_VERIFY=no" in caplog.text
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    (received,) = gmail_server.messages
    assert received.tls is True


def test_a_wrong_password_is_a_502_that_points_to_app_passwords_and_hides_the_secret(
    make_client, relay, gmail_server, trusted_ca, caplog
):
    secret = "wrongsecretvalue"
    caplog.set_level(logging.DEBUG)
    client, _ = make_client(**dict(relay, SMTP_RELAY_PASSWORD=secret))
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 502
    assert "535" in result.json["details"]
    assert "App Password" in result.json["details"]
    assert "https://myaccount.google.com/apppasswords" in result.json["details"]
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 503
    for text in (result.text, ready.text, caplog.text):
        assert secret not in text
    assert gmail_server.messages == []


def test_gmail_without_credentials_stops_the_service_at_start(make_settings, relay):
    settings = make_settings(**dict(relay, SMTP_RELAY_PASSWORD=""))
    with pytest.raises(ConfigError, match="SMTP_RELAY_PASSWORD"):
        Mailer.from_settings(settings)


def test_a_relay_that_is_down_is_a_503_at_once(make_client, relay):
    client, _ = make_client(**dict(relay, SMTP_RELAY_PORT=str(free_port())))
    started = time.monotonic()
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert time.monotonic() - started < 1
    assert result.status_code == 503
    assert result.headers["Retry-After"]
    assert "refused the connection" in result.json["details"]


def test_a_relay_that_never_answers_is_a_503_within_smtp_timeout(make_client, postfix, silent_port):
    client, _ = make_client(**dict(postfix, SMTP_PORT=str(silent_port), SMTP_TIMEOUT="0.5"))
    started = time.monotonic()
    result = client.simulate_post("/send", json=SEED_REQUEST)
    elapsed = time.monotonic() - started
    assert result.status_code == 503
    assert "did not answer within 0.5 s" in result.json["details"]
    assert 0.4 < elapsed < 1.5


def test_an_smtp_4xx_is_a_503_and_a_5xx_a_502(make_client, postfix, smtp_server):
    client, _ = make_client(**postfix)
    smtp_server.rcpt_reply = "450 4.2.1 Mailbox busy, try later"
    busy = client.simulate_post("/send", json=SEED_REQUEST)
    assert busy.status_code == 503
    assert "450 4.2.1 Mailbox busy" in busy.json["details"]
    smtp_server.rcpt_reply = None
    smtp_server.data_reply = "554 5.7.1 Message rejected as spam"
    refused = client.simulate_post("/send", json=SEED_REQUEST)
    assert refused.status_code == 502
    assert "554 5.7.1 Message rejected as spam" in refused.json["details"]
    smtp_server.data_reply = None
    # Each refusal was cleared with RSET: the same connection carries on.
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert smtp_server.connections == 1


def test_one_refused_recipient_refuses_the_whole_message(make_client, postfix, smtp_server):
    client, _ = make_client(**postfix)
    smtp_server.rcpt_reply = "550 5.1.1 No such user"
    two = dict(SEED_REQUEST, to=["a@example.org", "b@example.org"])
    result = client.simulate_post("/send", json=two)
    assert result.status_code == 502
    assert "a@example.org (550 5.1.1 No such user)" in result.json["details"]
    assert smtp_server.messages == []


def test_fifty_sequential_messages_share_one_connection(make_client, postfix, smtp_server):
    client, _ = make_client(**postfix)
    for _ in range(50):
        assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert len(smtp_server.messages) == 50
    assert smtp_server.connections == 1


def test_without_connection_reuse_each_message_has_its_own_connection(
    make_client, relay, gmail_server, trusted_ca
):
    client, _ = make_client(**relay, SMTP_REUSE_CONNECTIONS="no")
    for _ in range(3):
        assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert len(gmail_server.messages) == 3
    assert gmail_server.connections == 3
    assert all(message.tls and message.login for message in gmail_server.messages)


def test_a_relay_restarted_between_two_requests_is_reconnected_transparently(
    make_client, relay, gmail_server, trusted_ca
):
    client, _ = make_client(**relay)
    first = client.simulate_post("/send", json=SEED_REQUEST)
    gmail_server.restart()
    second = client.simulate_post("/send", json=SEED_REQUEST)
    assert (first.status_code, second.status_code) == (200, 200)
    assert delivered_ids(gmail_server) == [first.json["id"], second.json["id"]]
    assert gmail_server.connections == 2


def test_a_connection_lost_after_the_message_was_sent_is_never_retried(
    make_client, postfix, smtp_server
):
    client, _ = make_client(**postfix)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    smtp_server.hang_up_after_data = True  # on the reused connection
    lost = client.simulate_post("/send", json=SEED_REQUEST)
    assert lost.status_code == 504
    assert "may have queued it" in lost.json["details"]
    # The server may have queued it: sending it again could deliver it twice.
    assert len(smtp_server.messages) == 2
    assert smtp_server.connections == 1


def test_a_session_the_server_closed_for_idleness_is_replaced(make_client, postfix):
    with SmtpPeer(idle_timeout=0.3) as peer:
        client, _ = make_client(**dict(postfix, SMTP_PORT=str(peer.port)))
        first = client.simulate_post("/send", json=SEED_REQUEST)
        time.sleep(0.6)
        second = client.simulate_post("/send", json=SEED_REQUEST)
    assert (first.status_code, second.status_code) == (200, 200)
    assert delivered_ids(peer) == [first.json["id"], second.json["id"]]
    assert peer.connections == 2


def test_idle_connections_are_closed_by_the_pool_after_a_while(smtp_server):
    endpoint = Endpoint(smtp_server.host, smtp_server.port, PLAIN, 2, "example.org")
    transport = SmtpTransport(endpoint, pool_size=2, idle_seconds=0.2)
    message = message_from_bytes(b"Subject: hi\r\n\r\nbody\r\n")
    transport.send(message, Envelope("a@example.org", ("b@example.org",)))
    assert transport.pool.idle_count == 1
    deadline = time.monotonic() + 2
    while transport.pool.idle_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert transport.pool.idle_count == 0
    transport.send(message, Envelope("a@example.org", ("b@example.org",)))
    transport.close()
    assert smtp_server.connections == 2


def test_postfix_uses_starttls_when_offered_except_on_loopback(make_settings, tls_ca):
    def endpoint_tls(host):
        settings = make_settings(MAIL_TRANSPORT="postfix", SMTP_HOST=host)
        ((_, transport),) = Mailer.from_settings(settings).transports
        return transport.endpoint.tls

    assert endpoint_tls("mail-server") == OPPORTUNISTIC
    assert endpoint_tls("127.0.0.1") == endpoint_tls("localhost") == PLAIN
    with SmtpPeer(ca=tls_ca) as peer:  # offers STARTTLS with a certificate nobody trusts
        endpoint = Endpoint(peer.host, peer.port, OPPORTUNISTIC, 2, "example.org", False)
        transport = SmtpTransport(endpoint, pool_size=1)
        message = message_from_bytes(b"Subject: hi\r\n\r\nx\r\n")
        transport.send(message, Envelope("a@example.org", ("b@example.org",)))
        transport.close()
    (received,) = peer.messages
    assert received.tls is True


def test_failover_delivers_through_gmail_when_postfix_is_down(
    make_client, relay, gmail_server, trusted_ca
):
    client, _ = make_client(**postfix_down_then(relay))
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 200
    assert result.json["transport"] == "gmail"
    assert delivered_ids(gmail_server) == [result.json["id"]]


def test_a_permanent_refusal_is_not_tried_on_the_next_transport(
    make_client, relay, smtp_server, gmail_server, trusted_ca
):
    postfix_up = dict(SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port))
    client, _ = make_client(**dict(relay, **postfix_up, MAIL_TRANSPORT="postfix,gmail"))
    smtp_server.data_reply = "554 5.7.1 Message rejected as spam"
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 502
    assert "554 5.7.1" in result.json["details"]
    assert gmail_server.messages == []


def test_when_every_transport_is_down_the_503_says_why_for_each(make_client, relay):
    client, _ = make_client(**postfix_down_then(dict(relay, SMTP_RELAY_PORT=str(free_port()))))
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503
    assert result.json["details"].startswith("postfix: 127.0.0.1:")
    assert "; gmail: 127.0.0.1:" in result.json["details"]


def test_the_legacy_relay_names_reach_the_relay(
    make_settings, make_client, gmail_server, trusted_ca
):
    legacy = dict(
        MAIL_TRANSPORT="gmail",
        RELAY_HOST=gmail_server.host,
        RELAY_PORT=str(gmail_server.port),
        RELAY_USERNAME="site@example.org",
        RELAY_PASSWORD="abcd efgh ijkl mnop",  # as Gmail shows it
    )
    warnings = " ".join(make_settings(**legacy).warnings)
    assert "rename it to SMTP_RELAY_HOST" in warnings
    client, _ = make_client(**legacy)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    (received,) = gmail_server.messages
    assert received.login == b"site@example.org"


def test_ready_logs_in_without_sending_anything(make_client, relay, gmail_server, trusted_ca):
    client, _ = make_client(**relay)
    result = client.simulate_get("/health/ready")
    assert result.status_code == 200
    assert result.json["status"] == "ok"
    (gmail,) = result.json["transports"]
    assert gmail["ready"] is True
    assert "logged in as site@example.org" in gmail["details"]
    assert gmail_server.messages == []
    assert gmail_server.connections == 1


def test_ready_is_503_naming_what_failed_while_health_stays_cheap(make_client, postfix):
    client, _ = make_client(**dict(postfix, SMTP_PORT=str(free_port())))
    ready = client.simulate_get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["success"] is False
    assert ready.json["details"].startswith("postfix: ")
    assert "refused the connection" in ready.json["details"]
    assert client.simulate_get("/health").status_code == 200


def test_ready_is_degraded_when_failover_still_delivers(make_client, relay, trusted_ca):
    client, _ = make_client(**postfix_down_then(relay))
    result = client.simulate_get("/health/ready")
    assert result.status_code == 200
    assert result.json["status"] == "degraded"
    assert [t["ready"] for t in result.json["transports"]] == [False, True]


@pytest.mark.parametrize(
    "offers",
    [{}, {"chunking": False}, {"pipelining": False, "chunking": False}],
    ids=["bdat", "pipelined-data", "stepwise"],
)
def test_a_non_ascii_local_part_travels_with_smtputf8_when_the_server_offers_it(
    make_client, offers
):
    with SmtpPeer(smtputf8=True, **offers) as peer:
        client, _ = make_client(
            MAIL_TRANSPORT="postfix", SMTP_HOST=peer.host, SMTP_PORT=str(peer.port)
        )
        result = client.simulate_post(
            "/send", json={"to": "jürgen@example.org", "subject": "Hi", "body": "x"}
        )
        assert result.status_code == 200, result.json
        (received,) = peer.messages
        assert received.smtputf8 is True
        assert received.rcpt_tos == ("jürgen@example.org",)
        assert "To: jürgen@example.org" in received.data.decode("utf-8")


def test_a_non_ascii_local_part_is_a_502_when_the_server_lacks_smtputf8(make_client, smtp_server):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port)
    )
    result = client.simulate_post(
        "/send", json={"to": "jürgen@example.org", "subject": "Hi", "body": "x"}
    )
    assert result.status_code == 502
    assert "SMTPUTF8" in result.json["details"]
    assert smtp_server.messages == []
    ascii_result = client.simulate_post(
        "/send", json={"to": "jurgen@example.org", "subject": "Hi", "body": "x"}
    )
    assert ascii_result.status_code == 200  # the same pooled connection still works


TWO_RECIPIENTS = dict(SEED_REQUEST, to=["a@example.org", "b@example.org"])


def _envelope_chunk(peer: SmtpPeer) -> bytes:
    (chunk,) = [c.upper() for c in peer.chunks if b"MAIL FROM:" in c.upper()]
    return chunk


def test_the_envelope_is_pipelined_in_one_write_when_the_server_offers_it(make_client, smtp_server):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port)
    )
    assert client.simulate_post("/send", json=TWO_RECIPIENTS).status_code == 200
    assert _envelope_chunk(smtp_server).endswith(
        b"RCPT TO:<A@EXAMPLE.ORG>\r\nRCPT TO:<B@EXAMPLE.ORG>\r\nDATA\r\n"
    )
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ("a@example.org", "b@example.org")


def test_without_pipelining_each_command_waits_for_its_reply(make_client):
    with SmtpPeer(pipelining=False) as peer:
        client, _ = make_client(
            MAIL_TRANSPORT="postfix", SMTP_HOST=peer.host, SMTP_PORT=str(peer.port)
        )
        assert client.simulate_post("/send", json=TWO_RECIPIENTS).status_code == 200
        assert b"RCPT" not in _envelope_chunk(peer)
        assert [c.upper() for c in peer.chunks if c.upper().startswith(b"RCPT")] == [
            b"RCPT TO:<A@EXAMPLE.ORG>\r\n",
            b"RCPT TO:<B@EXAMPLE.ORG>\r\n",
        ]
        assert peer.messages[0].rcpt_tos == ("a@example.org", "b@example.org")


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_message_one_recipient_refused_reaches_nobody(make_client, pipelining):
    """With PIPELINING, DATA was already accepted for the other recipient when the refusal is
    read: the client must hang up rather than finish the message."""
    with SmtpPeer(pipelining=pipelining) as peer:
        client, _ = make_client(
            MAIL_TRANSPORT="postfix", SMTP_HOST=peer.host, SMTP_PORT=str(peer.port)
        )
        peer.rcpt_reply, peer.refused_recipients = "550 5.1.1 No such user", {"b@example.org"}
        result = client.simulate_post("/send", json=TWO_RECIPIENTS)
        assert result.status_code == 502
        assert result.json["details"] == (
            f"{peer.host}:{peer.port} refused the recipient(s) b@example.org "
            "(550 5.1.1 No such user); nothing was sent."
        )
        if pipelining:
            # After DATA's 354, anything but hanging up (a RSET, say) would be message text.
            assert not any(b"RSET" in chunk.upper() for chunk in peer.chunks)
        peer.refused_recipients = set()
        peer.rcpt_reply = None
        assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
        (received,) = peer.messages
        assert received.rcpt_tos == ("recipient@example.org",)
        # Hanging up dropped the pipelined connection; a refusal before DATA is cleared by RSET.
        assert peer.connections == (2 if pipelining else 1)


@pytest.mark.parametrize("chunking", [True, False], ids=["bdat", "data"])
def test_lines_that_start_with_a_dot_arrive_unchanged(make_client, chunking):
    with SmtpPeer(chunking=chunking) as peer:
        client, _ = make_client(
            MAIL_TRANSPORT="postfix", SMTP_HOST=peer.host, SMTP_PORT=str(peer.port)
        )
        body = ".\n.. two dots\n.end"
        assert client.simulate_post("/send", json=dict(SEED_REQUEST, body=body)).status_code == 200
    (received,) = peer.messages
    assert b"\r\n.. two dots\r\n" in received.data  # as written, not encoded away
    delivered = message_from_bytes(received.data).get_payload(decode=True).decode()
    assert delivered.replace("\r\n", "\n") == body + "\n"


def test_a_message_to_one_recipient_goes_in_one_write_with_bdat(make_client, smtp_server):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port)
    )
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    (received,) = smtp_server.messages
    envelope = f"RCPT TO:<recipient@example.org>\r\nBDAT {len(received.data)} LAST\r\n".encode()
    assert _envelope_chunk(smtp_server).endswith(envelope.upper() + received.data.upper())
    assert received.rcpt_tos == ("recipient@example.org",)


def test_a_refused_recipient_refuses_the_bdat_and_the_connection_stays_usable(
    make_client, smtp_server
):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix", SMTP_HOST=smtp_server.host, SMTP_PORT=str(smtp_server.port)
    )
    smtp_server.rcpt_reply = "550 5.1.1 No such user"
    refused = client.simulate_post("/send", json=SEED_REQUEST)
    assert refused.status_code == 502
    assert (
        "refused the recipient(s) recipient@example.org (550 5.1.1 No such user)"
        in (refused.json["details"])
    )
    assert smtp_server.messages == []
    smtp_server.rcpt_reply = None
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert len(smtp_server.messages) == 1
    assert smtp_server.connections == 1  # RSET cleared the refused transaction
