"""MAIL FROM and RCPT TO name the envelope's addresses as smtplib.quoteaddr would, for every
address the service accepts, without parsing each again (issue #19)."""

from __future__ import annotations

import smtplib

from hypothesis import given, settings
from hypothesis import strategies as st

from dinky_falcon.mail.addresses import AddressError, parse_mailbox
from dinky_falcon.transports.smtp_session import _path

# Dot-atoms of ASCII atext and of the non-ASCII letters SMTPUTF8 carries, and anything else
# printable, which parse_mailbox mostly refuses.
LOCAL_PARTS = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,20}", fullmatch=True) | st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=12
)
DOMAINS = st.sampled_from(["example.org", "mail.example.net", "bücher.example", "xn--bcher-kva.ch"])


@settings(max_examples=500)
@given(LOCAL_PARTS, DOMAINS)
def test_the_path_of_every_accepted_address_is_what_smtplib_would_send(local, domain):
    try:
        address = parse_mailbox(f"{local}@{domain}").addr_spec
    except AddressError:
        return
    assert _path(address) == smtplib.quoteaddr(address)
