"""The plugin contract: every hook a dinky-falcon plugin can implement.

A plugin is a module or object with functions marked ``@hookimpl`` whose names are the hooks
below. The host calls hooks with keyword arguments only, so an implementation may accept fewer
arguments than the specification lists. Reading this file is enough to write a plugin; the
README's "Writing a plugin" section has a complete example.
"""

import pluggy

PROJECT = "dinky_falcon"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_transports(register):
    """Called once at start-up to collect transports.

    Call ``register(name, factory)`` for each transport the plugin provides. ``name`` is what
    MAIL_TRANSPORT selects (lower case); a name registered by two plugins stops the service at
    start. ``factory(settings)`` is called only when the transport is selected and returns an
    object with:

    - ``send(message, envelope)``: hand off one ``email.message.EmailMessage``; ``envelope``
      has ``sender`` and ``recipients`` (SMTP MAIL FROM / RCPT TO; bcc is only there, never
      in a header), ``smtputf8`` (an address needs the server's SMTPUTF8) and ``tags``. Return
      when the message is durably accepted; raise ``dinky_falcon.TransportError(text,
      temporary=...)`` otherwise.
    - ``check()`` (optional): talk to the upstream without sending; raise TransportError when
      it is not ready.
    - ``close()`` (optional): release connections and files at shutdown.

    The factory should raise ``dinky_falcon.ConfigError`` for settings it cannot work with, so
    the service fails at start rather than at the first message.
    """


@hookspec
def before_send(message, envelope, settings):
    """Called for every message after it is built and before a transport sees it.

    May change ``message`` (an ``EmailMessage``) in place: add a header, a footer, a
    signature. ``envelope.tags`` holds the request's ``tags`` (for logging and metrics). Raise ``dinky_falcon.MessageRefused(reason)`` to refuse it: the caller gets 403
    with the reason and nothing is sent. The return value is ignored.
    """


@hookspec
def after_send(message, envelope, transport, error):
    """Called once a message was handed off, or finally failed.

    ``transport`` is the name of the transport that accepted the message (or the last one
    tried); ``error`` is None on success, else the ``TransportError`` the caller was given. For
    logging, metrics and notifications: exceptions raised here are logged and never change
    the answer, because the message has already been accepted or refused.
    """
