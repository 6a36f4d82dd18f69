"""The plugin contract: every hook a dinky-falcon plugin can implement.

A plugin is a module or object with functions marked ``@hookimpl`` whose names are the hooks
below. The host calls hooks with keyword arguments only, so an implementation may accept fewer
arguments than the specification lists (``def before_send(message):`` is fine); a misspelled
hook or argument name stops the service at start. Reading this file is enough to write a
plugin; plugins/README.md has a complete example and says how to package and test one.

A plugin that raises anything the contract does not name gives the API caller a 500, and the
log gets the traceback with the plugin's name; the service keeps serving.
"""

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import pluggy

PROJECT = "dinky_falcon"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@runtime_checkable
class Transport(Protocol):
    """What a transport factory returns (see register_transports): ``send`` is required."""

    def send(self, message, envelope) -> object: ...


# The optional parts, each its own Protocol: ``isinstance(transport, Checkable)`` says whether
# the transport has it (a transport without ``check`` is ready once built).
@runtime_checkable
class Checkable(Protocol):
    def check(self) -> str | None: ...


@runtime_checkable
class Diagnosable(Protocol):
    def diagnose(self, report: Callable[[str], None]) -> None: ...


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None: ...


@hookspec
def register_transports(register):
    """Called once at start-up (and by ``dinky-mail plugins``) to collect transports.

    Call ``register(name, factory)`` for each transport the plugin provides, and do nothing
    else: this runs even when none of the plugin's transports is selected. ``name`` is what
    MAIL_TRANSPORT selects (lower case); a name registered by two plugins stops the service at
    start, naming both. ``factory(settings)`` is called only when the transport is selected
    (``settings.get("NAME")`` reads a variable of the plugin's own) and returns a Transport
    (the Protocols above) with:

    - ``send(message, envelope)``: hand off one ``email.message.EmailMessage``; ``envelope``
      has ``sender`` and ``recipients`` (SMTP MAIL FROM / RCPT TO; bcc is only there, never
      in a header), ``smtputf8`` (an address needs the server's SMTPUTF8) and ``tags``. Return
      when the message is durably accepted; raise ``dinky_falcon.TransportError(text,
      temporary=...)`` otherwise, or ``dinky_falcon.OutcomeUnknown(text)`` when the whole
      message was handed over and the upstream's verdict was lost (never retried or failed
      over). Waitress serves requests on several threads, so ``send`` may run concurrently.
      What it returns may say where the message went: an object with a ``queue_id`` (the
      upstream's ID, logged and answered as ``queue_id``) or an ``os.PathLike`` (a file
      written); anything else is ignored. ``message.as_bytes()`` is its wire form, CRLF line
      ends, written once (after the before_send hooks and the DKIM signature).
    - ``check()`` (optional): talk to the upstream without sending, for ``GET /health/ready``;
      return a short text of what was checked, raise TransportError when it is not ready.
    - ``diagnose(report)`` (optional): for ``dinky-mail check``, test the way to the upstream
      step by step, calling ``report(text)`` after each step that passed and raising
      TransportError (saying what to do) at the first that fails.
    - ``close()`` (optional): release connections and files at shutdown.

    The factory should raise ``dinky_falcon.ConfigError`` for settings it cannot work with, so
    the service fails at start rather than at the first message.
    """


@hookspec
def before_send(message, envelope, settings):
    """Called for every message after it is built and before a transport sees it.

    ``message`` is the ``email.message.EmailMessage``, ``envelope`` the
    ``dinky_falcon.Envelope`` (``sender``, ``recipients``, ``smtputf8``, and ``tags``: the
    request's ``tags``, for logging and metrics), ``settings`` the service's Settings. May
    change ``message`` in place: add a header, a footer, a signature. Raise
    ``dinky_falcon.MessageRefused(reason)`` to refuse it: the caller gets 403 with the reason
    and nothing is sent. The return value is ignored. Every plugin's implementation runs, the
    last registered first; mark it ``@hookimpl(trylast=True)`` to run after the others (a
    signature must see the final message).
    """


@hookspec
def after_send(message, envelope, transport, error):
    """Called once a message was handed off, or finally failed.

    ``message`` and ``envelope`` are what the transport received; ``transport`` is the name of
    the transport that accepted the message (or the last one tried); ``error`` is None on
    success, else the ``TransportError`` the caller was given (or the ``PluginError`` wrapping
    what a transport raised unexpectedly). Not called when ``before_send`` refused or failed.
    For logging, metrics and notifications: it runs before the caller is answered, so keep it
    quick; exceptions raised here are logged and never change the answer. The return value is
    ignored.
    """


@hookspec
def check_form_submission(form, fields, client_ip, settings):
    """Called for each ``POST /forms/{name}`` that passed the honeypot and the fill-time check,
    before its fields are validated and its message is built: the place for a captcha check
    (Turnstile, hCaptcha) without the core knowing any provider.

    ``form`` is the form's name; ``fields`` the submitted ``(name, value)`` pairs in order, the
    captcha widget's token among them (``cf-turnstile-response``, ``h-captcha-response``):
    remove the pairs you consumed from this list (in place) so that they stay out of the mail.
    ``client_ip`` is the visitor's address as the rate limits see it; ``settings`` the
    service's Settings (``settings.get("TURNSTILE_SECRET")``). Raise
    ``dinky_falcon.MessageRefused(reason)`` to refuse the submission: the visitor is told the
    reason (403, or the form's error page) and nothing is sent. The return value is ignored.
    A check that calls its provider should use a short timeout: the visitor is waiting.
    """
