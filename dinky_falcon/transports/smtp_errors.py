"""SMTP failures in words an operator can act on: a table of exception types and the advice
each gets (which variable to check), and OutcomeUnknown when the reply to a whole message
was lost. Never a secret: the password is masked in every text."""

from __future__ import annotations

import smtplib
import socket
import ssl

from ..errors import OutcomeUnknown, TransportError
from .deadline import Deadline
from .resolve import ResolutionTimeout
from .smtp_endpoint import APP_PASSWORDS_URL, SEND_DEADLINE_FACTOR, Endpoint


class StartTlsMissing(smtplib.SMTPException):
    """The server does not offer the STARTTLS that the configuration requires."""


class SmtpUtf8Missing(smtplib.SMTPException):
    """An address needs SMTPUTF8 (a non-ASCII local part) and the server does not offer it."""


class ReplyLost(smtplib.SMTPServerDisconnected):
    """The whole message was written, then the connection was lost (or timed out) before the
    server's reply: it may be queued. The caller is told OutcomeUnknown; never redone."""


def reply_text(reply) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply).split())


def _reply(code: int, reply) -> str:
    return f"{code} {reply_text(reply)}"


def _transient(code: int) -> bool:
    return 400 <= code < 500


def explain(
    exc: BaseException, endpoint: Endpoint, deadline: Deadline | None = None
) -> TransportError:
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


def _login_refused(exc, endpoint, where, host_var, port_var):
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


def _recipients_refused(exc, endpoint, where, host_var, port_var):
    refusals = "; ".join(f"{r} ({_reply(*answer)})" for r, answer in exc.recipients.items())
    temporary = all(_transient(code) for code, _ in exc.recipients.values())
    return f"{where} refused the recipient(s) {refusals}; nothing was sent.", temporary


def _sender_refused(exc, endpoint, where, host_var, port_var):
    reply = _reply(exc.smtp_code, exc.smtp_error)
    text = (
        f"{where} refused the sender {exc.sender} ({reply}): use a from address the "
        "relay accepts, such as DEFAULT_FROM."
    )
    return text, _transient(exc.smtp_code)


def _replied(words: str):
    """An SMTP reply the session could not pass: ``where words: reply``, temporary on 4xx."""

    def advice(exc, endpoint, where, host_var, port_var):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return f"{where} {words}: {reply}.", _transient(exc.smtp_code)

    return advice


def _disconnected(exc, endpoint, where, host_var, port_var):
    # smtplib reports a read that timed out or failed as a disconnection.
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, (smtplib.SMTPServerDisconnected, OSError)):
        return _describe(cause, endpoint)
    return f"{where} closed the connection ({reply_text(exc)}); retry later.", True


def _fixed(template: str, temporary: bool):
    """Advice that needs no reply: ``template`` formatted with the endpoint's names."""

    def advice(exc, endpoint, where, host_var, port_var):
        text = template.format(
            where=where,
            host_var=host_var,
            port_var=port_var,
            host=endpoint.host,
            timeout=endpoint.timeout,
            exc=exc,
        )
        return text, temporary

    return advice


# (exception type, advice) in the order they are tried: a subclass before its base.
ADVICE = (
    (smtplib.SMTPAuthenticationError, _login_refused),
    (smtplib.SMTPRecipientsRefused, _recipients_refused),
    (smtplib.SMTPSenderRefused, _sender_refused),
    ((smtplib.SMTPConnectError, smtplib.SMTPHeloError), _replied("turned the session away")),
    (smtplib.SMTPResponseException, _replied("refused the message")),
    (
        StartTlsMissing,
        _fixed(
            "{where} does not offer STARTTLS, which USE_TLS=yes requires: check {port_var} "
            "(587 for STARTTLS, 465 for implicit TLS).",
            True,
        ),
    ),
    (
        SmtpUtf8Missing,
        _fixed(
            "{where} does not offer SMTPUTF8, which an address with a non-ASCII local part "
            "needs: use an ASCII address, or a relay that supports SMTPUTF8.",
            False,
        ),
    ),
    (
        smtplib.SMTPNotSupportedError,
        _fixed(
            "{where} offers no authentication: check {host_var} and {port_var}; a server "
            "that offers AUTH only over TLS needs USE_TLS=yes.",
            False,
        ),
    ),
    (
        ReplyLost,
        _fixed(
            "the connection to {where} was lost (or its reply took over SMTP_TIMEOUT) after "
            "the whole message was sent: the server may have queued it; look for its "
            "Message-ID before sending it again.",
            False,
        ),
    ),
    (smtplib.SMTPServerDisconnected, _disconnected),
    (
        ssl.SSLCertVerificationError,
        _fixed(
            "the TLS certificate of {where} could not be verified ({exc.verify_message}): "
            "add its CA to the system trust store (or point SSL_CERT_FILE at it), or set "
            "TLS_VERIFY=no to encrypt without verifying.",
            True,
        ),
    ),
    (
        ssl.SSLError,
        lambda exc, endpoint, where, host_var, port_var: (
            f"TLS with {where} failed ({exc.reason or exc}): check {port_var} (587 for "
            "STARTTLS, 465 for implicit TLS) and USE_TLS.",
            True,
        ),
    ),
    (
        ResolutionTimeout,
        _fixed(
            "the host name {host} could not be resolved within {timeout:g} s "
            "(SMTP_TIMEOUT): check {host_var} and that the DNS resolver answers.",
            True,
        ),
    ),
    (
        socket.gaierror,
        _fixed(
            "the host name {host} could not be resolved ({exc.strerror}): check {host_var}.", True
        ),
    ),
    (
        ConnectionRefusedError,
        _fixed(
            "{where} refused the connection: is the SMTP server running, and are {host_var} "
            "and {port_var} right?",
            True,
        ),
    ),
    (
        TimeoutError,
        _fixed(
            "{where} did not answer within {timeout:g} s (SMTP_TIMEOUT): check that "
            "the host is up and that no firewall drops {port_var}.",
            True,
        ),
    ),
    (
        OSError,
        lambda exc, endpoint, where, host_var, port_var: (
            f"the connection to {where} failed ({exc.strerror or exc}); retry later.",
            True,
        ),
    ),
)


def _describe(exc: BaseException, endpoint: Endpoint) -> tuple[str, bool]:
    host_var, port_var = endpoint.variables.split("/")
    for kind, advice in ADVICE:
        if isinstance(exc, kind):
            return advice(exc, endpoint, endpoint.where, host_var, port_var)
    return f"SMTP with {endpoint.where} failed ({exc}).", False
