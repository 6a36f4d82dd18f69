"""``POST /forms/{name}``: contact forms that work from plain HTML, and from ``fetch``.

A browser gets a 303 to the form's success page (or an allowed ``_next``, or the built-in
thank-you page) and, on an error, a 303 to the form's error page or a page listing what to fix.
A client that asks for ``Accept: application/json`` gets the JSON answers of ``/send``.

Forms are public: a page cannot hold an API key. What protects them instead: recipients fixed
on the server, the Origin check (ALLOWED_HOSTS), the honeypot, RATE_LIMIT per form and client
IP, one send per identical submission, the optional fill-time token and captcha plugins.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from email.utils import make_msgid
from urllib.parse import urlsplit

import falcon
import pluggy

from ..config.forms import Form
from ..config.settings import Settings
from ..errors import MessageRefused, OutcomeUnknown, PluginError
from ..guard.ratelimit import RateLimit
from ..idempotency import Answer, Outcome, send_once, sent_answer, sent_body, unknown_outcome
from ..mailer import Mailer
from ..message_log import MessageEvent, replayed
from ..plugins import failing_plugin
from ..web.body import REPLAYED_HEADER
from ..web.errors import ApiError, wants_json
from .input import read_submission
from .mail import NEXT_FIELD, TOKEN_FIELD, build_request, submission_fingerprint
from .token import TOKEN_MAX_AGE, TOO_QUICKLY, sign_token, token_nonce, token_problem

log = logging.getLogger(__name__)

_MAYBE_SENT = (
    "The mail server did not confirm your message in time: it may have been sent. Please do "
    "not send it again; if you get no reply, contact us another way."
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em">
<h1>{title}</h1>
{content}
</body></html>
"""


def page(title: str, content: str) -> str:
    """A small HTML page; ``title`` is escaped here, ``content`` must be escaped already."""
    return _PAGE.format(title=html.escape(title), content=content)


def allowed_next(url: str, origins: list[str] | str) -> bool:
    """Whether ``_next`` points into ALLOWED_HOSTS: never an open redirect.

    Only absolute http(s) URLs whose origin is allowed; no user info, no backslash (browsers
    read it as a slash), no white space or control characters. ``*`` allows no ``_next``.
    """
    if origins == "*" or any(c in url for c in "\\@") or any(c <= " " or c == "\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return parts.scheme.lower() in ("http", "https") and origin in origins


def _details_html(details) -> str:
    if not isinstance(details, dict):
        return f"<p>{html.escape(str(details))}</p>"
    items = []
    for field, messages in details.items():
        text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
        items.append(f"<li><strong>{html.escape(str(field))}</strong>: {html.escape(text)}</li>")
    return f"<ul>{''.join(items)}</ul>"


class FormResource:
    """``POST /forms/{name}``, ``GET /forms/{name}/token``, ``GET /forms/{name}/thanks``."""

    public = True  # no API key: see the module's docstring

    def __init__(
        self,
        settings: Settings,
        mailer: Mailer,
        pm: pluggy.PluginManager,
        rate_limit: RateLimit,
        client_ip: Callable[[falcon.Request], str],
        origins: list[str] | str,
        idempotency,
        clock: Callable[[], float],
    ):
        self.settings = settings
        self.forms = {form.name: form for form in settings.forms}
        self.mailer, self.pm = mailer, pm
        self.rate_limit = rate_limit
        self.client_ip = client_ip
        self.origins = origins
        self.idempotency = idempotency  # dedupe: an identical submission is answered, not sent
        self.clock = clock
        # A duplicate waits as long as the first send may take, a failover included.
        self.duplicate_wait = 2 * settings.send_deadline

    def form(self, name: str) -> Form:
        form = self.forms.get(name)
        if form is None:
            raise ApiError(falcon.HTTP_404, "Form not found", f"There is no form named {name!r}.")
        return form

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        req.context.public_page = True  # its error answers never show operator details
        form = self.form(name)
        client = self.client_ip(req)
        self.rate_limit.enforce(req, f"{form.name}:{client}")
        submission = read_submission(req, self.settings.max_body_size)
        if submission.first(form.honeypot):
            log.warning(
                "form %s: honeypot %r filled from %s; nothing sent",
                form.name,
                form.honeypot,
                client,
            )
            answer = Answer(200, self.pretend_sent())
            self.mailer.report(
                MessageEvent("honeypot", answer.body["id"], None, len(form.to), form=form.name)
            )
        else:
            token = submission.first(TOKEN_FIELD)
            self.check_token(form, token)
            self.check_plugins(form, submission.fields, client)
            request = build_request(
                form,
                submission,
                self.settings.max_attachment_bytes,
                self.settings.accepts_test_domains,
            )
            fp = submission_fingerprint(form, client, submission)
            self.spend_token(form, token, fp)
            answer = self.send_once(form, request, fp, resp)
        self.answer(req, resp, form, submission.first(NEXT_FIELD), answer)

    def pretend_sent(self) -> dict:
        """The answer a bot gets for a filled honeypot: as a real send's, so it learns nothing."""
        return sent_body(make_msgid(domain=self.settings.mail_domain), self.mailer.transport_name)

    def check_token(self, form: Form, token: str) -> None:
        if not form.min_seconds:
            return
        # A token lives no longer than the store remembers it was spent.
        max_age = min(TOKEN_MAX_AGE, self.settings.idempotency_ttl)
        problem = token_problem(self.settings.forms_secret, form, token, self.clock(), max_age)
        if problem:
            raise ApiError(falcon.HTTP_422, "Validation failed", {TOKEN_FIELD: [problem]})

    def spend_token(self, form: Form, token: str, fp: str) -> None:
        """A token passes one submission: the minimum fill time then slows every message a bot
        sends, not only its first. Spent tokens are kept in the idempotency store (so shared
        by replicas on Redis); the same submission again (a double click) may reuse its own
        token and gets the first one's answer. Another one gets the answer of a too-fast one."""
        if not form.min_seconds:
            return
        key = f"form-token:{form.name}:{token_nonce(token)}"
        claim = self.idempotency.claim(key, fp)
        if claim.outcome is Outcome.STARTED:
            self.idempotency.complete(key, fp, Answer(200, {}))  # kept for IDEMPOTENCY_TTL
        elif claim.outcome is Outcome.MISMATCH:
            raise ApiError(falcon.HTTP_422, "Validation failed", {TOKEN_FIELD: [TOO_QUICKLY]})

    def check_plugins(self, form: Form, fields: list, client: str) -> None:
        try:
            self.pm.hook.check_form_submission(
                form=form.name, fields=fields, client_ip=client, settings=self.settings
            )
        except MessageRefused:
            raise
        except Exception as exc:
            plugin = failing_plugin(self.pm, "check_form_submission", exc)
            raise PluginError(plugin, "check_form_submission") from exc

    def send_once(self, form: Form, request, fp: str, resp: falcon.Response) -> Answer:
        """Sent once per identical submission; a double click waits for the first one's
        outcome (at most the send deadline, a failover included) rather than answer blindly:
        its answer if it sent, the key (and so the send) if it failed."""
        key = f"form:{form.name}:{fp}"  # fp covers the client: another visitor's text is sent
        claim = send_once(
            self.idempotency, key, fp, lambda: self.send(request, form), wait=self.duplicate_wait
        )
        if claim.outcome is Outcome.REPLAY:
            # A second click, a reload of the POST: the first one has sent it.
            hours = self.settings.idempotency_ttl / 3600
            log.info(
                "form %s: a duplicate submission was answered, not sent: the same fields from "
                "the same client were sent less than IDEMPOTENCY_TTL (%.3g h) ago",
                form.name,
                hours,
            )
            resp.set_header(REPLAYED_HEADER, "true")
            self.mailer.report(replayed(claim.answer, request, form=form.name))
            if self.settings.environment == "development" and claim.answer.status == 200:
                # Production answers as if sent (a bot learns nothing); a developer testing
                # the form would take the silence for lost mail.
                notice = (
                    f"Not sent: identical to a submission sent in the last {hours:.3g} h "
                    "(IDEMPOTENCY_TTL). Change a field to send it again. (development only)"
                )
                return Answer(200, {**claim.answer.body, "duplicate": True, "message": notice})
        elif claim.outcome is Outcome.IN_PROGRESS:
            raise ApiError(
                falcon.HTTP_409,
                "Submission in progress",
                "The same message is still being sent: wait a moment before sending it again.",
            )
        return claim.answer

    def send(self, request, form: Form) -> Answer:
        try:
            return sent_answer(self.mailer.send(request, form=form.name))
        except OutcomeUnknown as exc:  # the operator's text is in the log (the Mailer's)
            return unknown_outcome(_MAYBE_SENT, exc.message_id)

    def answer(self, req, resp, form: Form, next_url: str, answer: Answer) -> None:
        if wants_json(req):
            resp.status = falcon.code_to_http_status(answer.status)
            resp.media = answer.body
            return
        if answer.status != 200:  # maybe sent: not the thank-you page, not "send it again"
            status = falcon.code_to_http_status(answer.status)
            raise ApiError(status, answer.body["error"], answer.body["details"])
        if answer.body.get("duplicate"):  # development only: said on the page, no redirect
            resp.content_type = falcon.MEDIA_HTML
            resp.text = page(
                "Thank you (a duplicate)", f"<p>{html.escape(answer.body['message'])}</p>"
            )
            return
        resp.status = falcon.HTTP_303
        if next_url and allowed_next(next_url, self.origins):
            resp.location = next_url
        else:
            if next_url:
                log.warning("form %s: _next %r is outside ALLOWED_HOSTS", form.name, next_url)
            resp.location = form.redirect or f"/forms/{form.name}/thanks"

    def error_page(
        self, req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError
    ) -> None:
        """A browser's error answer (web/errors.py's ErrorSerializer): a redirect to the form's
        error page, or a page saying what went wrong."""
        form = self.forms.get(req.path.split("/")[2])
        if form is not None and form.error_redirect and req.method == "POST":
            resp.status = falcon.HTTP_303
            resp.location = form.error_redirect
            return
        details = getattr(error, "details", None) or error.description or error.title
        # Only what the visitor wrote or attached can be corrected; other errors say themselves
        # what to do (wait, try later, contact the site another way).
        fixable = error.status_code in (413, 422)
        fix = "<p>Please go back, correct the form and send it again.</p>" if fixable else ""
        resp.content_type = falcon.MEDIA_HTML
        resp.text = page(error.title, _details_html(details) + fix)

    def on_get_thanks(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.form(name)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = page("Thank you", "<p>Your message was sent. We will get back to you soon.</p>")

    def on_get_token(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        form = self.form(name)
        if not form.min_seconds:
            raise ApiError(
                falcon.HTTP_404, "No token", f"The form {name!r} has no fill-time check."
            )
        resp.cache_control = ["no-store"]
        resp.media = {
            "token": sign_token(self.settings.forms_secret, form.name, self.clock()),
            "field": TOKEN_FIELD,
            "min_seconds": form.min_seconds,
        }
