"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, plain or as a Gmail stand-in.

``SmtpPeer()`` accepts anything and offers PIPELINING and CHUNKING (BDAT, which aiosmtpd
lacks and the peer adds), as Postfix and Gmail do (``SmtpPeer(smtputf8=True)`` also offers
SMTPUTF8, ``pipelining=False`` and ``chunking=False`` withhold those);
``SmtpPeer(ca=trustme.CA(), username=..., password=...)`` offers STARTTLS with a certificate
from that CA, requires it, and requires AUTH PLAIN/LOGIN, answering a bad
login the way Gmail does (535 5.7.8). A message is answered as Postfix does, "250 2.0.0 Ok:
queued as ID", the ID kept with it (``Received.queue_id``). Every message and every connection is recorded, and
what arrived in each read (``chunks``), so tests can assert on delivery, on connection reuse
and on pipelining. ``idle_timeout`` and
``restart()`` make the server drop sessions, as real servers do. ``require_tls=False`` still
offers STARTTLS but would take mail and logins in clear, to prove a client never falls back to
that; ``port=`` starts a peer on a port a client was already told about (a relay coming back);
``host=`` and ``names=`` listen on another local address under a certificate for other names.

Peers that lose a message's fate: ``hang_up_after_data`` keeps the message (after DATA's "."
or BDAT LAST) and hangs up instead of confirming it; ``final_reply_delay`` confirms it that many
seconds late. ``greeting_trickle`` makes a tarpit: the greeting never ends, one ``220-`` line
every that many seconds.
"""

from __future__ import annotations

import asyncio
import secrets
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
    queue_id: str = ""  # what the final reply named, as Postfix's "Ok: queued as ID"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, peer: SmtpPeer):
        self.peer = peer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        offered = ["250-PIPELINING"] * self.peer.pipelining + ["250-CHUNKING"] * self.peer.chunking
        return responses[:-1] + offered + responses[-1:]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.peer.rcpt_reply and (
            not self.peer.refused_recipients or address in self.peer.refused_recipients
        ):
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
            # session.ssl is set by STARTTLS only; implicit TLS shows in the transport.
            session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            envelope.smtp_utf8,
            secrets.token_hex(5).upper(),
        )
        with self.peer.lock:
            self.peer.messages.append(received)
        if self.peer.final_reply_delay:
            await asyncio.sleep(self.peer.final_reply_delay)  # queued; the 250 comes late
        if self.peer.hang_up_after_data:
            server.transport.close()  # queued, but the client never hears so
        return f"250 2.0.0 Ok: queued as {received.queue_id}"


class _RecordingSMTP(SMTP):
    """aiosmtpd's session, keeping each chunk the client's writes arrived in."""

    def __init__(self, peer: SmtpPeer, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.peer = peer

    async def _handle_client(self) -> None:
        if self.peer.greeting_trickle is None:
            await super()._handle_client()
            return
        while not self.transport.is_closing():  # until the client gives up
            await self.push("220-please wait")
            await asyncio.sleep(self.peer.greeting_trickle)

    def data_received(self, data: bytes) -> None:
        with self.peer.lock:
            self.peer.chunks.append(data)
        super().data_received(data)

    async def smtp_BDAT(self, arg: str) -> None:
        """RFC 3030: ``BDAT <size> [LAST]``, then exactly <size> bytes of the message."""
        if not self.peer.chunking:
            await self.push('500 Error: command "BDAT" not recognized')
            return
        size, _, last = arg.partition(" ")
        if not size.isdigit() or last.upper() not in ("", "LAST"):
            await self.push("501 5.5.4 Syntax: BDAT <size> [LAST]")
            return
        chunk = await self._reader.readexactly(int(size))  # read, even when refused
        if await self.check_helo_needed() or await self.check_auth_needed("BDAT"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        self.envelope.original_content = (self.envelope.original_content or b"") + chunk
        if not last:
            await self.push(f"250 2.0.0 {len(chunk)} octets received")
            return
        self.envelope.content = self.envelope.original_content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


class _Controller(Controller):
    def __init__(self, peer: SmtpPeer, **kwargs):
        super().__init__(_Handler(peer), **kwargs)
        self.peer = peer
        self.sessions: list[SMTP] = []

    def factory(self):
        with self.peer.lock:
            self.peer.connections += 1
        session = _RecordingSMTP(self.peer, self.handler, **self.SMTP_kwargs)
        self.sessions.append(session)
        return session

    async def hang_up(self) -> None:
        """Close every session still open, and let their sockets close."""
        for session in self.sessions:
            if session.transport is not None:
                session.transport.close()
        await asyncio.sleep(0.01)


class SmtpPeer:
    def __init__(
        self,
        *,
        ca=None,
        username: str | None = None,
        password: str | None = None,
        port: int | None = None,
        require_tls: bool = True,
        idle_timeout: float | None = None,
        implicit_tls: bool = False,
        smtputf8: bool = False,
        pipelining: bool = True,
        chunking: bool = True,
        greeting_trickle: float | None = None,
        host: str = "127.0.0.1",
        names: tuple[str, ...] = (),
    ):
        self.host = host  # another local address: the Docker bridge's gateway (test_stack.py)
        self.port = port or free_port()
        self.username, self.password = username, password
        self.messages: list[Received] = []
        self.connections = 0
        self.pipelining = pipelining
        self.chunking = chunking
        self.chunks: list[bytes] = []  # what arrived from clients, one entry per read
        self.rcpt_reply: str | None = None  # e.g. "450 4.2.1 try later" to refuse recipients
        self.refused_recipients: set[str] = set()  # only these get rcpt_reply (empty: all)
        self.data_reply: str | None = None  # e.g. "554 5.7.1 rejected" to refuse messages
        self.hang_up_after_data = False  # keep the message, lose the 250 on the way back
        self.final_reply_delay = 0.0  # keep the message, send the 250 this many seconds later
        self.greeting_trickle = greeting_trickle
        self.lock = threading.Lock()
        options = {"enable_SMTPUTF8": smtputf8}
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost", *names).configure_cert(context)
            if implicit_tls:  # TLS from the first byte, as on port 465
                options.update(ssl_context=context)
            else:
                options.update(tls_context=context, require_starttls=require_tls)
        if username is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only counts STARTTLS as TLS; an implicit TLS session is encrypted too.
                auth_require_tls=ca is not None and require_tls and not implicit_tls,
            )
        if idle_timeout is not None:
            options["timeout"] = idle_timeout  # seconds before an idle session is closed
        self.options = options
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
        # aiosmtpd's stop() leaves open sessions' sockets to the garbage collector.
        asyncio.run_coroutine_threadsafe(self.controller.hang_up(), self.controller.loop).result(5)
        self.controller.stop()

    def restart(self) -> None:
        """Stop and start again on the same port, dropping every open session (a reboot)."""
        self.stop()
        with self.lock:
            connections = self.connections
        self.controller = _Controller(self, hostname=self.host, port=self.port, **self.options)
        self.controller.start()
        with self.lock:
            self.connections = connections  # not the controller's readiness probe

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
