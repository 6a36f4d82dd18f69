"""The transport contract: the cases every transport, built-in or third-party, must pass.

Subclass ``TransportContract`` in a test module (the subclass's name starts with ``Test``) and
provide two things:

- a ``transport`` fixture: the transport under test, built the way the service builds it
  (``build_transport(name, **variables)`` goes through the plugin hooks), closed afterwards;
- ``delivered(self)``: what the far end received so far, oldest first, as ``Delivered``
  items (``Delivered.from_mime(raw_bytes)`` reads a delivered message).

State the fixture sets on ``self`` (an outbox path, a test server) is there in ``delivered``:
pytest binds a class's fixtures to the same instance as the test. This module depends only on
pytest and dinky_falcon, so a plugin author can copy it into their own tests.
"""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage

import pytest

from dinky_falcon.config.settings import Settings
from dinky_falcon.mail.addresses import parse_mailbox
from dinky_falcon.mail.message import Envelope, MessageBuilder
from dinky_falcon.plugins import build_transports, make_plugin_manager, transport_registry
from dinky_falcon.web.schemas import SendSchema

# The headers the service sets on every message; each must arrive unchanged.
CORE_HEADERS = ("from", "to", "subject", "date", "message-id")


@dataclass(frozen=True)
class Delivered:
    """One message as the far end received it: headers (lower-case names) and bodies."""

    headers: dict[str, str]
    text: str | None
    html: str | None

    @classmethod
    def from_mime(cls, message: bytes | EmailMessage) -> Delivered:
        if isinstance(message, bytes):
            message = email.message_from_bytes(message, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        return cls(
            headers={name.lower(): str(value) for name, value in message.items()},
            text=_lf(text.get_content()) if text is not None else None,
            html=_lf(html.get_content()) if html is not None else None,
        )


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def build_transport(name: str, **variables: str):
    """The transport ``name``, built from these variables as ``dinky-mail serve`` would."""
    environ = {"ENVIRONMENT": "development", "MAIL_DOMAIN": "example.org", "MAIL_TRANSPORT": name}
    settings = Settings.from_env({**environ, **variables}, env_file=None)
    registry = transport_registry(make_plugin_manager(settings))
    ((_, transport),) = build_transports(settings, registry)
    return transport


def make_message(**fields) -> tuple[EmailMessage, Envelope]:
    """A message built by the service's own schema and builder from /send fields."""
    request = SendSchema().load({"to": "recipient@example.org", "body": "Hello", **fields})
    return MessageBuilder(parse_mailbox("noreply@example.org"), "example.org").build(request)


class TransportContract:
    @pytest.fixture
    def transport(self):
        raise NotImplementedError("a TransportContract subclass provides the transport fixture")

    def delivered(self) -> list[Delivered]:
        raise NotImplementedError("a TransportContract subclass says how to read deliveries")

    def assert_arrived(self, sent: list[EmailMessage]) -> None:
        expected = [Delivered.from_mime(message) for message in sent]
        arrived = self.delivered()
        assert [{h: d.headers.get(h) for h in CORE_HEADERS} for d in arrived] == [
            {h: e.headers[h] for h in CORE_HEADERS} for e in expected
        ]
        assert [(d.text, d.html) for d in arrived] == [(e.text, e.html) for e in expected]

    def test_a_message_arrives_with_its_headers_and_body(self, transport):
        message, envelope = make_message(subject="Contact form", body="Please call me back.")
        transport.send(message, envelope)
        self.assert_arrived([message])

    def test_non_ascii_subject_and_body_arrive_intact(self, transport):
        message, envelope = make_message(subject="Grüße aus Köln ✉", body="Héllo wörld ☃\n")
        transport.send(message, envelope)
        self.assert_arrived([message])

    def test_an_html_body_arrives_as_html_with_its_text_alternative(self, transport):
        message, envelope = make_message(subject="News", body="<p>Hi <b>there</b></p>", html=True)
        transport.send(message, envelope)
        self.assert_arrived([message])
        assert self.delivered()[0].text == "Hi there\n"

    def test_dot_lines_and_a_very_long_line_survive(self, transport):
        # SMTP ends DATA at a line holding one dot and limits lines to 998 characters.
        body = "first\n.\n..two dots\n" + "x" * 2500 + "\nlast"
        message, envelope = make_message(subject="Edge cases", body=body)
        transport.send(message, envelope)
        self.assert_arrived([message])

    def test_several_messages_arrive_once_each_in_order(self, transport):
        sent = []
        for number in range(3):
            message, envelope = make_message(subject=f"Message {number}")
            transport.send(message, envelope)
            sent.append(message)
        self.assert_arrived(sent)

    def test_sends_from_several_threads_all_arrive(self, transport):
        # waitress calls send() from several worker threads at once.
        messages = [make_message(subject=f"Thread message {n}") for n in range(16)]
        errors = []

        def send(message, envelope):
            try:
                transport.send(message, envelope)
            except Exception as exc:  # collected: an exception in a thread fails nothing
                errors.append(exc)

        threads = [threading.Thread(target=send, args=pair) for pair in messages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        subjects = sorted(d.headers["subject"] for d in self.delivered())
        assert subjects == sorted(str(m["Subject"]) for m, _ in messages)

    def test_check_and_close_when_provided_do_not_stop_delivery(self, transport):
        # check() and close() are optional; the service calls them when they exist. close()
        # must be safe to call twice (a plugin's own clean-up, then the service's shutdown).
        if hasattr(transport, "check"):
            transport.check()
        message, envelope = make_message(subject="After check")
        transport.send(message, envelope)
        if hasattr(transport, "close"):
            transport.close()
            transport.close()
        self.assert_arrived([message])
