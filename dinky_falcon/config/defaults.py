"""Defaults that depend on ENVIRONMENT, and the send deadline's factor."""

# A whole send may take this many SMTP_TIMEOUTs: a fresh connection's greeting, EHLO, TLS,
# AUTH and the transaction each take a fraction of one from a healthy server; a server that
# keeps every single wait just under SMTP_TIMEOUT (a tarpit) is cut off.
SEND_DEADLINE_FACTOR = 3
DEFAULT_TRANSPORT = {"development": "file", "production": "postfix"}
# Development listens on loopback only: a laptop on a café's network is no mail relay.
DEFAULT_HOST = {"development": "127.0.0.1", "production": "0.0.0.0"}
# Production refuses floods unless told otherwise (a key is a site's back end, not an anonymous
# caller: 60 messages a minute sustained); development counts nothing.
DEFAULT_RATE_LIMIT = {"development": "none", "production": "10/minute;100/hour"}
DEFAULT_RATE_LIMIT_PER_KEY = {"development": "none", "production": "120/minute;3600/hour"}
# Transports that keep every message on this machine: with only these, in development, the
# special-use test domains (me@localhost, dev@shop.test) are accepted (mail/addresses.py).
SINK_TRANSPORTS = frozenset({"file", "memory"})


def accepts_test_domains(environment: str, transports) -> bool:
    """Development whose every transport is a sink: a test address cannot leak a message."""
    return environment == "development" and set(transports) <= SINK_TRANSPORTS
