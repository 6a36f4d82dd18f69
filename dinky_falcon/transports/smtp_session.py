"""One SMTP session: connect, EHLO, encrypt and log in, then one transaction (pipelined
when the server offers it, BDAT or DATA), every wait bounded by the send's deadline."""

from __future__ import annotations

import re
import select
import smtplib
from collections.abc import Callable

from .deadline import Cutoff, Deadline
from .resolve import connect
from .smtp_endpoint import IMPLICIT, OPPORTUNISTIC, STARTTLS, Endpoint
from .smtp_errors import ReplyLost, SmtpUtf8Missing, StartTlsMissing, reply_text
from .smtp_pool import StaleConnection


def _quiet(step: str) -> None:
    pass


class _SMTP(smtplib.SMTP):
    """smtplib's client, its connection's name lookup bounded by the timeout (resolve.py), its
    socket cut when the send's ``deadline`` is up, the greeting included. ``cutoff`` is what
    the deadline of each later send on the connection cuts (deadline.py)."""

    def __init__(self, host, port, *, deadline: Deadline | None, **options):
        self.deadline = deadline
        self.cutoff: Cutoff | None = None
        super().__init__(host, port, **options)

    def _get_socket(self, host, port, timeout):  # smtplib's hook for making the socket
        if self.deadline is None:
            sock = connect(host, port, timeout)
        else:
            sock = connect(host, port, self.deadline.bounded(timeout))
            sock.settimeout(timeout)  # each later wait, on this send or the next that reuses it
        try:
            self.cutoff = Cutoff(sock)
        except OSError:  # no descriptor left for the duplicate: none for the socket either
            sock.close()
            raise
        if self.deadline is not None:
            self.deadline.attach(self.cutoff)
        return sock

    def connect(self, host="localhost", port=0, source_address=None):
        # smtplib closes nothing when making the socket fails after the Cutoff was made (an
        # implicit TLS handshake refused): its duplicate would stay open until collected.
        try:
            return super().connect(host, port, source_address)
        except BaseException:
            self.close()
            raise

    def close(self):  # smtplib's own hang-ups (a lost connection, quit()) come here too
        super().close()
        if self.cutoff is not None:
            self.cutoff.close()


class _SMTP_SSL(smtplib.SMTP_SSL, _SMTP):
    """The same, with TLS from the first byte: SMTP_SSL wraps what _SMTP connected."""

    def __init__(self, host, port, *, deadline: Deadline | None, **options):
        self.deadline = deadline
        self.cutoff = None
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
        server_name = reply_text(connection.ehlo_resp or connection.helo_resp).split(" ")[0]
        report(
            f"SMTP: {endpoint.where} answers as {server_name}, EHLO as {endpoint.local_hostname}"
        )
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


def _transact(
    connection: smtplib.SMTP, sender: str, recipients, data: bytes, smtputf8=False
) -> bytes:
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


def _path(address: str) -> str:
    """``<address>``, the path of MAIL FROM or RCPT TO. The envelope holds addr-specs that
    parse_mailbox accepted (email-validator's dot-atoms), which smtplib.quoteaddr would parse
    again only to give the same text: a tenth of the transport's CPU per message (issue #19)."""
    return f"<{address}>"


def _mail_from(sender: str, options) -> str:
    return f"MAIL FROM:{_path(sender)}{''.join(f' {o}' for o in options)}\r\n"


def _transact_in_one_write(
    connection: smtplib.SMTP, sender: str, recipient: str, data: bytes, options
) -> bytes:
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
        f"RCPT TO:{_path(recipient)}\r\nBDAT {len(data)} LAST\r\n"
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


def _transact_with_data(
    connection: smtplib.SMTP, sender: str, recipients, data: bytes, options
) -> bytes:
    """The envelope (pipelined when the server offers it), DATA's 354, then the message."""
    if connection.has_extn("pipelining"):
        mail, rcpts, go_ahead = _envelope_pipelined(connection, sender, recipients, options)
    else:
        mail, rcpts, go_ahead = _envelope_stepwise(connection, sender, recipients, options)
    refused = {
        r: reply for r, reply in zip(recipients, rcpts, strict=True) if reply[0] not in (250, 251)
    }
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
    commands += [f"RCPT TO:{_path(r)}\r\n" for r in recipients]
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
        raise StaleConnection(reply_text(reply))
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
        raise StaleConnection(reply_text(reply))
