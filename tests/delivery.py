"""Deliver what the message builder produced to a real SMTP peer, and read it back.

Until the SMTP transports land, the memory transport captures (message, envelope) and smtplib
hands them to the aiosmtpd peer exactly as a transport would: MAIL FROM the envelope sender,
RCPT TO every envelope recipient, SMTPUTF8 when the envelope needs it.
"""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from email.parser import Parser

from smtp_peer import Received, SmtpPeer


def relay(peer: SmtpPeer, message: EmailMessage, envelope) -> Received:
    options = ["SMTPUTF8"] if envelope.smtputf8 else []
    with smtplib.SMTP(peer.host, peer.port) as client:
        client.sendmail(envelope.sender, list(envelope.recipients), message.as_bytes(), options)
    return peer.messages[-1]


def parse(received: Received) -> EmailMessage:
    # Everything we send is UTF-8 at most (raw only in SMTPUTF8 headers, bodies are QP or
    # base64); BytesParser would leave UTF-8 headers as surrogate escapes. CRLF is the wire's
    # line end, as a mail client stores it: native.
    return Parser(policy=policy.default).parsestr(received.data.decode("utf-8").replace("\r\n", "\n"))


def send_and_receive(client, sent: list, peer: SmtpPeer, body: dict) -> tuple[Received, EmailMessage]:
    """POST /send, assert 200, relay the captured message to ``peer``, return it parsed."""
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 200, result.json
    message, envelope = sent.pop()
    received = relay(peer, message, envelope)
    return received, parse(received)
