"""Shared samples: the seed's request body, and mail parsed as a mail client reads it."""

from email import message_from_string
from email.message import EmailMessage
from email.policy import default

SEED_REQUEST = {
    "to": "recipient@example.org",
    "subject": "Test Email",
    "body": "This is a test email",
}


def parse_mail(raw: bytes) -> EmailMessage:
    """Parse a message as a mail client would: CRLF line ends read as plain line ends, and
    UTF-8 (RFC 6532 headers of an SMTPUTF8 message) read as text, not surrogate escapes."""
    return message_from_string(raw.decode("utf-8").replace("\r\n", "\n"), policy=default)
