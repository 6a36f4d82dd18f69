"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, plain or as a Gmail stand-in.

``SmtpPeer()`` accepts anything (``SmtpPeer(smtputf8=True)`` also offers SMTPUTF8); ``SmtpPeer(ca=trustme.CA(), username=..., password=...)``
offers STARTTLS with a certificate from that CA, requires it, and requires AUTH PLAIN/LOGIN,
answering a bad login the way Gmail does (535 5.7.8). Every message and every connection is
recorded, so tests can assert on delivery and on connection reuse.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

GMAIL_BAD_CREDENTIALS = (
    "535 5.7.8 Username and Password not accepted. For more information, go to "
    "https://support.google.com/mail/?p=BadCredentials"
)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: bytes | None  # the AUTH user name, when the client authenticated
    tls: bool  # whether the session was encrypted when DATA arrived
    smtputf8: bool = False  # whether MAIL FROM carried SMTPUTF8


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, peer: SmtpPeer):
        self.peer = peer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.peer.rcpt_reply:
            return self.peer.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.peer.data_reply:
            return self.peer.data_reply
        login = session.auth_data.login if session.authenticated else None
        received = Received(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            envelope.original_content,
            login,
            session.ssl is not None,
            envelope.smtp_utf8,
        )
        with self.peer.lock:
            self.peer.messages.append(received)
        return "250 2.0.0 OK queued"


class _Controller(Controller):
    def __init__(self, peer: SmtpPeer, **kwargs):
        super().__init__(_Handler(peer), **kwargs)
        self.peer = peer

    def factory(self):
        with self.peer.lock:
            self.peer.connections += 1
        return SMTP(self.handler, **self.SMTP_kwargs)


class SmtpPeer:
    def __init__(
        self,
        *,
        ca=None,
        username: str | None = None,
        password: str | None = None,
        smtputf8: bool = False,
    ):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.username, self.password = username, password
        self.messages: list[Received] = []
        self.connections = 0
        self.rcpt_reply: str | None = None  # e.g. "450 4.2.1 try later" to refuse recipients
        self.data_reply: str | None = None  # e.g. "554 5.7.1 rejected" to refuse messages
        self.lock = threading.Lock()
        options = {"enable_SMTPUTF8": smtputf8}
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            options.update(tls_context=context, require_starttls=True)
        if username is not None:
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=ca is not None
            )
        self.controller = _Controller(self, hostname=self.host, port=self.port, **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        good = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        if good:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False, message=GMAIL_BAD_CREDENTIALS)

    def start(self) -> SmtpPeer:
        self.controller.start()
        with self.lock:
            self.connections = 0  # forget the controller's own readiness probe
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
