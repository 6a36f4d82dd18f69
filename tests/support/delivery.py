"""Deliver what the message builder produced to a real SMTP peer, and read it back.

For the builder's own tests: smtplib hands (message, envelope) to the aiosmtpd peer exactly as
a transport would (MAIL FROM the envelope sender, RCPT TO every envelope recipient, SMTPUTF8
when the envelope needs it), with no transport's pooling or retries in between.
"""

from __future__ import annotations

import re
import smtplib
from email import policy
from email.message import EmailMessage
from email.parser import Parser

from support.smtp_peer import Received, SmtpPeer


def relay(peer: SmtpPeer, message: EmailMessage, envelope) -> Received:
    options = ["SMTPUTF8"] if envelope.smtputf8 else []
    # local_hostname: without it smtplib asks DNS for this host's name on every connection.
    with smtplib.SMTP(peer.host, peer.port, local_hostname="localhost") as client:
        client.sendmail(envelope.sender, list(envelope.recipients), message.as_bytes(), options)
    return peer.messages[-1]


# RFC 2047 section 6.2: white space between adjacent encoded words is not displayed. Mail
# readers drop it; CPython's header parser keeps it inside a display name, so it is dropped
# here before parsing.
_BETWEEN_ENCODED_WORDS = re.compile(r"(?<=\?=)[ \t]*\n?[ \t]+(?==\?)")


def parse(received: Received) -> EmailMessage:
    """The message as a mail reader sees it."""
    # Everything we send is UTF-8 at most (raw only in SMTPUTF8 headers, bodies are QP or
    # base64); BytesParser would leave UTF-8 headers as surrogate escapes. CRLF is the wire's
    # line end, as a mail client stores it: native.
    text = received.data.decode("utf-8").replace("\r\n", "\n")
    headers, blank, body = text.partition("\n\n")
    return Parser(policy=policy.default).parsestr(
        _BETWEEN_ENCODED_WORDS.sub("", headers) + blank + body
    )


def send_and_receive(
    client, sent: list, peer: SmtpPeer, body: dict
) -> tuple[Received, EmailMessage]:
    """POST /send, assert 200, relay the captured message to ``peer``, return it parsed."""
    result = client.simulate_post("/send", json=body)
    assert result.status_code == 200, result.json
    message, envelope = sent.pop()
    received = relay(peer, message, envelope)
    return received, parse(received)
