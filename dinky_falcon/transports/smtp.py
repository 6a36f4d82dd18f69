"""SMTP delivery shared by the ``postfix`` and ``gmail``/``relay`` transports.

An Endpoint says where and how to connect; SmtpTransport sends through a pool of open
connections and turns every failure into a TransportError a person can act on: OutcomeUnknown
when the server had the whole message and its reply was lost. A send, waiting for a pooled
connection included, is over within SEND_DEADLINE_FACTOR times SMTP_TIMEOUT (deadline.py).
"""

from __future__ import annotations

import ipaddress
import re
import select
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import OutcomeUnknown, TransportError
from ..message_log import queue_id
from .deadline import Deadline
from .resolve import ResolutionTimeout, connect, resolve
from .smtp_pool import IDLE_SECONDS, SmtpPool, StaleConnection

APP_PASSWORDS_URL = "https://myaccount.google.com/apppasswords"

# A whole send may take this many SMTP_TIMEOUTs: a fresh connection's greeting, EHLO, TLS,
# AUTH and the transaction each take a fraction of one from a healthy server; a server that
# keeps every single wait just under SMTP_TIMEOUT (a tarpit) is cut off.
SEND_DEADLINE_FACTOR = 3

# How the session is encrypted.
PLAIN = "plain"  # never
OPPORTUNISTIC = "opportunistic"  # STARTTLS when the server offers it
STARTTLS = "starttls"  # STARTTLS required
IMPLICIT = "implicit"  # TLS from the first byte (port 465)


@dataclass(frozen=True)
class Accepted:
    """The server's final reply to a message, and the queue ID it names (when it does)."""

    reply: str
    queue_id: str | None


class StartTlsMissing(smtplib.SMTPException):
    """The server does not offer the STARTTLS that the configuration requires."""


class SmtpUtf8Missing(smtplib.SMTPException):
    """An address needs SMTPUTF8 (a non-ASCII local part) and the server does not offer it."""


class ReplyLost(smtplib.SMTPServerDisconnected):
    """The whole message was written, then the connection was lost (or timed out) before the
    server's reply: it may be queued. The caller is told OutcomeUnknown; never redone."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: str
    timeout: float
    local_hostname: str
    context: ssl.SSLContext | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    # Where the operator fixes the host and port, for the advice in error texts.
    variables: str = "SMTP_HOST/SMTP_PORT"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def deadline(self) -> float:
        """Seconds a whole send may take (see SEND_DEADLINE_FACTOR)."""
        return SEND_DEADLINE_FACTOR * self.timeout

    @property
    def verifies(self) -> bool:
        return self.context is not None and self.context.verify_mode == ssl.CERT_REQUIRED


def tls_context(verify: bool) -> ssl.SSLContext:
    """The system trust store (SSL_CERT_FILE is honoured), or encryption without verification."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quiet(step: str) -> None:
    pass


class _SMTP(smtplib.SMTP):
    """smtplib's client, its connection's name lookup bounded by the timeout (resolve.py), its
    socket cut when the send's ``deadline`` is up, the greeting included."""

    def __init__(self, host, port, *, deadline: Deadline | None, **options):
        self.deadline = deadline
        super().__init__(host, port, **options)

    def _get_socket(self, host, port, timeout):  # smtplib's hook for making the socket
        if self.deadline is None:
            return connect(host, port, timeout)
        sock = connect(host, port, self.deadline.bounded(timeout))
        sock.settimeout(timeout)  # each later wait, on this send or the next that reuses it
        self.deadline.attach(sock)
        return sock


class _SMTP_SSL(smtplib.SMTP_SSL, _SMTP):
    """The same, with TLS from the first byte: SMTP_SSL wraps what _SMTP connected."""

    def __init__(self, host, port, *, deadline: Deadline | None, **options):
        self.deadline = deadline
        smtplib.SMTP_SSL.__init__(self, host, port, **options)


def open_connection(
    endpoint: Endpoint, report: Callable[[str], None] = _quiet, deadline: Deadline | None = None
) -> smtplib.SMTP:
    """Connect, EHLO, encrypt and log in as configured; ``report`` hears each step done."""
    # Given the host, the constructor connects, checks the 220 greeting and remembers the
    # name that STARTTLS verifies the certificate against.
    options = dict(
        timeout=endpoint.timeout, local_hostname=endpoint.local_hostname, deadline=deadline
    )
    if endpoint.tls == IMPLICIT:
        connection = _SMTP_SSL(endpoint.host, endpoint.port, context=endpoint.context, **options)
    else:
        connection = _SMTP(endpoint.host, endpoint.port, **options)
    try:
        connection.ehlo_or_helo_if_needed()
        server_name = _text(connection.ehlo_resp or connection.helo_resp).split(" ")[0]
        report(f"SMTP: {endpoint.where} answers as {server_name}, EHLO as {endpoint.local_hostname}")
        if endpoint.tls == IMPLICIT:
            report(f"TLS: implicit, {_tls_summary(connection, endpoint)}")
        elif endpoint.tls == STARTTLS or (
            endpoint.tls == OPPORTUNISTIC and connection.has_extn("starttls")
        ):
            if not connection.has_extn("starttls"):
                raise StartTlsMissing()
            connection.starttls(context=endpoint.context)
            connection.ehlo_or_helo_if_needed()
            report(f"TLS: STARTTLS, {_tls_summary(connection, endpoint)}")
        else:
            report("TLS: not used" + (" (not offered)" if endpoint.tls == OPPORTUNISTIC else ""))
        if endpoint.username:
            connection.login(endpoint.username, endpoint.password)
            report(f"AUTH: logged in as {endpoint.username}")
    except BaseException:
        connection.close()
        raise
    return connection


def _tls_summary(connection: smtplib.SMTP, endpoint: Endpoint) -> str:
    version = connection.sock.version()
    if endpoint.verifies:
        return f"{version}, certificate verified for {endpoint.host}"
    return f"{version}, certificate NOT verified (TLS_VERIFY=no)"


def _transact(connection: smtplib.SMTP, sender: str, recipients, data: bytes, smtputf8=False) -> bytes:
    """One mail transaction with the prebuilt bytes, all recipients or none.

    smtplib's sendmail() would deliver to the accepted recipients and only report the
    refused ones; the API answers for the whole message, so any refusal refuses it. Doing
    the steps here also tells a dead connection (nothing accepted yet: safe to redo) apart
    from a failure after RCPT (the message might be queued: never redone).

    A message to one recipient, on a server that offers CHUNKING and PIPELINING (Postfix and
    Gmail do), goes with BDAT in one round trip; any other with DATA, in two. Returns the
    server's final reply (its 250's text, which may name the queue ID).
    """
    options = ()
    if smtputf8:
        if connection.ehlo_resp is None:
            connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("smtputf8"):
            raise SmtpUtf8Missing()
        options = ("SMTPUTF8",)
    # smtplib keeps the encoding for the commands on the connection (rset() restores ASCII).
    connection.command_encoding = "utf-8" if options else "ascii"
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    chunking = connection.has_extn("chunking") and connection.has_extn("pipelining")
    if chunking and len(recipients) == 1:
        return _transact_in_one_write(connection, sender, recipients[0], data, options)
    return _transact_with_data(connection, sender, recipients, data, options)


def _mail_from(sender: str, options) -> str:
    return f"MAIL FROM:{smtplib.quoteaddr(sender)}{''.join(f' {o}' for o in options)}\r\n"


def _transact_in_one_write(connection: smtplib.SMTP, sender: str, recipient: str, data: bytes,
                           options) -> bytes:
    """MAIL, RCPT and ``BDAT <size> LAST`` with the message after it, in one write (RFC 3030
    with RFC 2920), then the three replies.

    Only for one recipient: the server takes the message for whichever recipients it
    accepted, and with one, a refused recipient leaves nobody to take it (the server
    refuses the BDAT). Once the write is out the message may be queued, so a connection
    found dead after it is never redone; the server's hang-up is looked for before writing.
    """
    if _hung_up(connection):
        raise StaleConnection("the server closed the idle connection")  # nothing sent yet
    commands = _mail_from(sender, options) + (
        f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\nBDAT {len(data)} LAST\r\n"
    )
    # Failing here, the server got less than the BDAT size: it has nothing to deliver.
    connection.send(commands.encode(connection.command_encoding) + data)
    try:
        mail = _mail_reply(connection.getreply)  # a 421 to MAIL: nothing after it counted
        rcpt = connection.getreply()
        code, reply = connection.getreply()
    except StaleConnection:
        raise
    except smtplib.SMTPServerDisconnected as exc:
        raise ReplyLost(str(exc)) from exc
    if mail[0] != 250:
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if rcpt[0] not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return reply


def _hung_up(connection: smtplib.SMTP) -> bool:
    """Whether the server has closed the connection, or said something unasked (the 421 that
    comes before an idle session is closed), since its last reply."""
    if connection.sock is None:
        return True
    waiting = select.poll()
    waiting.register(connection.sock, select.POLLIN)
    return bool(waiting.poll(0))


def _transact_with_data(connection: smtplib.SMTP, sender: str, recipients, data: bytes,
                        options) -> bytes:
    """The envelope (pipelined when the server offers it), DATA's 354, then the message."""
    if connection.has_extn("pipelining"):
        mail, rcpts, go_ahead = _envelope_pipelined(connection, sender, recipients, options)
    else:
        mail, rcpts, go_ahead = _envelope_stepwise(connection, sender, recipients, options)
    refused = {r: reply for r, reply in zip(recipients, rcpts) if reply[0] not in (250, 251)}
    if go_ahead is not None and go_ahead[0] == 354 and (mail[0] != 250 or refused):
        # The server waits for the message, and a "." would deliver it to the recipients it
        # accepted. Hanging up is the only way out of DATA: the transaction is dropped.
        connection.close()
    if mail[0] != 250:
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    if go_ahead[0] != 354:
        raise smtplib.SMTPDataError(*go_ahead)
    # Failing here, the final "." never went out: the server drops what it got.
    connection.send(_DOT_AT_LINE_START.sub(b"..", data) + b".\r\n")
    try:
        code, reply = connection.getreply()
    except smtplib.SMTPServerDisconnected as exc:
        raise ReplyLost(str(exc)) from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return reply


# The message's lines end in CRLF (the builders write them so); a line that starts with "."
# gets another one (RFC 5321 4.5.2), as smtplib's data() does. BDAT sends the bytes as they are.
_DOT_AT_LINE_START = re.compile(rb"^\.", re.MULTILINE)


def _envelope_pipelined(connection: smtplib.SMTP, sender: str, recipients, options):
    """MAIL, every RCPT and DATA in one write, then their replies in order (RFC 2920).

    A message to one recipient takes two round trips instead of four, and each further
    recipient none instead of one; Postfix and Gmail both offer PIPELINING.
    """
    commands = [_mail_from(sender, options)]
    commands += [f"RCPT TO:{smtplib.quoteaddr(r)}\r\n" for r in recipients]
    try:
        connection.send("".join(commands) + "DATA\r\n")
        mail = _mail_reply(connection.getreply)
    except smtplib.SMTPServerDisconnected as exc:
        raise StaleConnection(str(exc)) from exc  # nothing was accepted: safe to redo
    rcpts = [connection.getreply() for _ in recipients]
    return mail, rcpts, connection.getreply()


def _mail_reply(read) -> tuple[int, bytes]:
    """The reply to MAIL; a 421 there is a server closing a session that carried nothing."""
    code, reply = read()
    if code == 421:
        raise StaleConnection(_text(reply))
    return code, reply


def _envelope_stepwise(connection: smtplib.SMTP, sender: str, recipients, options):
    """MAIL, RCPT and DATA one at a time, for a server without PIPELINING; DATA's reply is
    None when a refusal came first and DATA was not sent."""
    try:
        mail = _mail_reply(lambda: connection.mail(sender, options))  # SMTPUTF8: UTF-8
    except smtplib.SMTPServerDisconnected as exc:
        raise StaleConnection(str(exc)) from exc
    if mail[0] != 250:
        return mail, [], None
    rcpts = [connection.rcpt(recipient) for recipient in recipients]
    if any(code not in (250, 251) for code, _ in rcpts):
        return mail, rcpts, None
    return mail, rcpts, connection.docmd("DATA")


def _noop(connection: smtplib.SMTP) -> None:
    try:
        code, reply = connection.noop()
    except smtplib.SMTPServerDisconnected as exc:
        raise StaleConnection(str(exc)) from exc
    if code != 250:
        raise StaleConnection(_text(reply))


class SmtpTransport:
    """Sends through a pool of ``pool_size`` connections to one Endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        pool_size: int,
        idle_seconds: float = IDLE_SECONDS,
        reuse: bool = True,
    ):
        self.endpoint = endpoint
        self.pool = SmtpPool(
            lambda deadline: open_connection(endpoint, deadline=deadline),
            pool_size, endpoint.timeout, idle_seconds, reuse,
        )

    def send(self, message, envelope) -> Accepted:
        data = message.as_bytes()  # flattened once; a reconnect resends the same bytes
        smtputf8 = getattr(envelope, "smtputf8", False)
        reply = _text(self._run(
            lambda c: _transact(c, envelope.sender, envelope.recipients, data, smtputf8)
        ))
        return Accepted(reply, queue_id(reply))

    def check(self) -> str:
        """Open (or reuse) a connection and NOOP on it; what was checked, in words."""
        self._run(_noop)
        checked = [self.endpoint.where]
        if self.endpoint.tls != PLAIN:
            verified = ", verified" if self.endpoint.verifies else ""
            checked.append(f"TLS {self.endpoint.tls}{verified}")
        if self.endpoint.username:
            checked.append(f"logged in as {self.endpoint.username}")
        return ", ".join(checked)

    def diagnose(self, report: Callable[[str], None]) -> None:
        """Each step on a new connection — DNS, TCP, SMTP, TLS, AUTH — reported as it passes."""
        endpoint = self.endpoint
        with Deadline(endpoint.deadline) as deadline:
            try:
                addresses = resolve(endpoint.host, endpoint.port, endpoint.timeout)
                shown = sorted({a[4][0] for a in addresses})
                report(f"DNS: {endpoint.host} is {', '.join(shown)}")
                started = time.perf_counter()
                connect(endpoint.host, endpoint.port, endpoint.timeout).close()
                elapsed = (time.perf_counter() - started) * 1000
                report(f"TCP: {endpoint.where} accepts connections ({elapsed:.0f} ms)")
                open_connection(endpoint, report, deadline).quit()
            except (smtplib.SMTPException, OSError) as exc:
                raise explain(exc, endpoint, deadline) from exc

    def close(self) -> None:
        self.pool.close()

    def _run(self, work):
        with Deadline(self.endpoint.deadline) as deadline:
            try:
                return self.pool.run(work, deadline)
            except (smtplib.SMTPException, OSError) as exc:
                raise explain(exc, self.endpoint, deadline) from exc


def _text(reply) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply).split())


def _reply(code: int, reply) -> str:
    return f"{code} {_text(reply)}"


def _transient(code: int) -> bool:
    return 400 <= code < 500


def explain(exc: BaseException, endpoint: Endpoint, deadline: Deadline | None = None) -> TransportError:
    """What went wrong talking to ``endpoint``, in words that say what to do; never a secret.

    OutcomeUnknown when the whole message was written and the reply was lost (ReplyLost).
    """
    if deadline is not None and deadline.expired:
        text, temporary = _out_of_time(exc, endpoint, deadline)
    else:
        text, temporary = _describe(exc, endpoint)
    # Texts quote server replies, and a broken server could echo what it was sent.
    if endpoint.password:
        text = text.replace(endpoint.password, "***")
    if isinstance(exc, ReplyLost):
        return OutcomeUnknown(text)
    return TransportError(text, temporary=temporary)


def _out_of_time(exc: BaseException, endpoint: Endpoint, deadline: Deadline) -> tuple[str, bool]:
    limit = f"{deadline.seconds:g} s ({SEND_DEADLINE_FACTOR} x SMTP_TIMEOUT)"
    if isinstance(exc, ReplyLost):
        text = (
            f"{endpoint.where} had the whole message but did not confirm it within the send's "
            f"deadline of {limit}: it may have been delivered; look for its Message-ID before "
            "sending it again."
        )
        return text, False
    text = (
        f"{endpoint.where} did not finish the conversation within the send's deadline of "
        f"{limit}, so the message was not sent: retry later."
    )
    return text, True


def _describe(exc: BaseException, endpoint: Endpoint) -> tuple[str, bool]:
    where = endpoint.where
    host_var, port_var = endpoint.variables.split("/")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        if "google" in reply.lower() or endpoint.host.endswith(("gmail.com", "googlemail.com")):
            advice = (
                "Gmail accepts only an App Password here, not the account password: create one "
                f"at {APP_PASSWORDS_URL} (2-Step Verification must be on) and set it as "
                "SMTP_RELAY_PASSWORD"
            )
        else:
            advice = "check SMTP_RELAY_USERNAME and SMTP_RELAY_PASSWORD"
        text = f"{where} rejected the login of {endpoint.username} ({reply}): {advice}."
        return text, _transient(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = "; ".join(f"{r} ({_reply(*answer)})" for r, answer in exc.recipients.items())
        temporary = all(_transient(code) for code, _ in exc.recipients.values())
        return f"{where} refused the recipient(s) {refusals}; nothing was sent.", temporary
    if isinstance(exc, smtplib.SMTPSenderRefused):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        text = (
            f"{where} refused the sender {exc.sender} ({reply}): use a from address the "
            "relay accepts, such as DEFAULT_FROM."
        )
        return text, _transient(exc.smtp_code)
    if isinstance(exc, (smtplib.SMTPConnectError, smtplib.SMTPHeloError)):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return f"{where} turned the session away: {reply}.", _transient(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return f"{where} refused the message: {reply}.", _transient(exc.smtp_code)
    if isinstance(exc, StartTlsMissing):
        text = (
            f"{where} does not offer STARTTLS, which USE_TLS=yes requires: check {port_var} "
            "(587 for STARTTLS, 465 for implicit TLS)."
        )
        return text, True
    if isinstance(exc, SmtpUtf8Missing):
        text = (
            f"{where} does not offer SMTPUTF8, which an address with a non-ASCII local part "
            "needs: use an ASCII address, or a relay that supports SMTPUTF8."
        )
        return text, False
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        text = (
            f"{where} offers no authentication: check {host_var} and {port_var}; a server "
            "that offers AUTH only over TLS needs USE_TLS=yes."
        )
        return text, False
    if isinstance(exc, ReplyLost):
        text = (
            f"the connection to {where} was lost (or its reply took over SMTP_TIMEOUT) after "
            "the whole message was sent: the server may have queued it; look for its "
            "Message-ID before sending it again."
        )
        return text, False
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out or failed as a disconnection.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (smtplib.SMTPServerDisconnected, OSError)):
            return _describe(cause, endpoint)
        return f"{where} closed the connection ({_text(exc)}); retry later.", True
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = (
            f"the TLS certificate of {where} could not be verified ({exc.verify_message}): "
            "add its CA to the system trust store (or point SSL_CERT_FILE at it), or set "
            "TLS_VERIFY=no to encrypt without verifying."
        )
        return text, True
    if isinstance(exc, ssl.SSLError):
        text = (
            f"TLS with {where} failed ({exc.reason or exc}): check {port_var} (587 for "
            "STARTTLS, 465 for implicit TLS) and USE_TLS."
        )
        return text, True
    if isinstance(exc, ResolutionTimeout):
        text = (
            f"the host name {endpoint.host} could not be resolved within {endpoint.timeout:g} s "
            f"(SMTP_TIMEOUT): check {host_var} and that the DNS resolver answers."
        )
        return text, True
    if isinstance(exc, socket.gaierror):
        reason = exc.strerror
        text = f"the host name {endpoint.host} could not be resolved ({reason}): check {host_var}."
        return text, True
    if isinstance(exc, ConnectionRefusedError):
        text = (
            f"{where} refused the connection: is the SMTP server running, and are {host_var} "
            f"and {port_var} right?"
        )
        return text, True
    if isinstance(exc, TimeoutError):
        text = (
            f"{where} did not answer within {endpoint.timeout:g} s (SMTP_TIMEOUT): check that "
            f"the host is up and that no firewall drops {port_var}."
        )
        return text, True
    if isinstance(exc, OSError):
        return f"the connection to {where} failed ({exc.strerror or exc}); retry later.", True
    return f"SMTP with {where} failed ({exc}).", False
