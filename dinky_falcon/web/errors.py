"""Every error answer of the API: ``{"success": false, "error": title, "details": ...}``.

A failure on the service's side (5xx) also carries a short ``reference``, and the log line that
says what happened carries the same one. Who reads the details of a failed send (the relay's
host, its reply, a variable to fix) is the operator's business: a caller with an API key, or
anyone in development; never a visitor of a public page (the forms), who is told what they can
do instead.
"""

from __future__ import annotations

import json
import logging
import secrets

import falcon
from marshmallow import ValidationError

from ..errors import MessageRefused, PluginError, PolicyRefused, StoreUnavailable, TransportError
from ..mail.mime import UnsafeHeader

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


class ApiError(falcon.HTTPError):
    """An error answer; ``details`` is a string or a {field: [messages]} dict."""

    def __init__(self, status, title: str, details, headers=None, reference: str | None = None):
        super().__init__(status, title=title, headers=headers)
        self.details = details
        self.reference = reference


def new_reference() -> str:
    """Ten random characters a person can quote; the log line of the failure carries them."""
    return secrets.token_hex(5)


def wants_json(req: falcon.Request) -> bool:
    """A client that names JSON and not HTML in Accept (``fetch`` with ``Accept:
    application/json``), or posts JSON without naming HTML; a browser's form names text/html."""
    accept = (req.accept or "").lower()
    if "text/html" in accept:
        return False
    posted_json = (req.content_type or "").lower().startswith(falcon.MEDIA_JSON)
    return falcon.MEDIA_JSON in accept or posted_json


class ErrorSerializer:
    """The one error serializer: the JSON error body, except that under a path prefix whose
    routes answer browsers (``/forms/``) a browser gets the page ``pages[prefix]`` renders."""

    def __init__(self, pages: dict | None = None):
        self.pages = dict(pages or {})

    def __call__(self, req, resp, error: falcon.HTTPError) -> None:
        if not wants_json(req):
            for prefix, render in self.pages.items():
                if req.path.startswith(prefix):
                    render(req, resp, error)
                    return
        serialize_error(req, resp, error)


def serialize_error(req, resp, error: falcon.HTTPError) -> None:
    details = getattr(error, "details", None) or error.description or error.title
    body = {"success": False, "error": error.title, "details": details}
    if getattr(error, "reference", None):
        body["reference"] = error.reference
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(body).encode()


def validation_failed(req, resp, error: ValidationError, params):
    raise ApiError(falcon.HTTP_422, "Validation failed", error.messages)


def operator_may_read(req: falcon.Request, development: bool) -> bool:
    """Whether the caller may read what the operator reads about a failure: a caller with an
    API key, or anyone in development; never on a public page."""
    if req.context.get("public_page"):
        return False
    return development or req.context.get("api_key") is not None


class TransportFailed:
    """TransportError -> 503 + Retry-After (temporary) or 502; the details only for operators."""

    def __init__(self, development: bool):
        self.development = development

    def __call__(self, req, resp, error: TransportError, params):
        reference = new_reference()
        level = logging.WARNING if error.temporary else logging.ERROR
        log.log(level, "mail not sent (reference %s): %s", reference, error)
        if operator_may_read(req, self.development):
            details = str(error)
        elif error.temporary:
            details = (
                "The message could not be sent just now: please try again in a few "
                f"minutes, or contact us another way. Reference: {reference}."
            )
        else:
            details = (
                "The message could not be sent: please contact us another way, "
                f"quoting the reference {reference}."
            )
        if error.temporary:
            raise ApiError(
                falcon.HTTP_503,
                "Mail transport unavailable, retry later",
                details,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                reference=reference,
            )
        raise ApiError(
            falcon.HTTP_502, "Mail transport refused the message", details, reference=reference
        )


def unsafe_header(req, resp, error: UnsafeHeader, params):
    raise ApiError(falcon.HTTP_422, "Validation failed", {error.field: [str(error)]})


def message_refused(req, resp, error: MessageRefused, params):
    raise ApiError(falcon.HTTP_403, "Message refused", str(error))


def policy_refused(req, resp, error: PolicyRefused, params):
    raise ApiError(falcon.HTTP_403, error.title, error.details)


def store_unavailable(req, resp, error: StoreUnavailable, params):
    reference = new_reference()
    log.error("idempotency store (reference %s): %s", reference, error)
    raise ApiError(
        falcon.HTTP_503,
        "Idempotency store unavailable, retry later",
        f"Nothing was sent: the Idempotency-Key could not be checked. Reference: {reference}.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        reference=reference,
    )


def unexpected(req, resp, error: Exception, params):
    reference = new_reference()
    log.error(
        "unexpected error on %s %s (reference %s)", req.method, req.path, reference, exc_info=error
    )
    raise ApiError(
        falcon.HTTP_500,
        "Internal server error",
        f"The error was logged with the reference {reference}.",
        reference=reference,
    )


def plugin_failed(req, resp, error: PluginError, params):
    reference = new_reference()
    log.error("%s on %s %s (reference %s)", error, req.method, req.path, reference, exc_info=error)
    raise ApiError(
        falcon.HTTP_500,
        "Internal server error",
        f"A mail plugin failed; the error was logged with the reference {reference}.",
        reference=reference,
    )


def add_error_handlers(
    app: falcon.App, development: bool = False, pages: dict | None = None
) -> None:
    """``development``: every caller of /send may read why a send failed (see the docstring);
    ``pages``: path prefix -> the renderer of its browsers' error pages (ErrorSerializer)."""
    app.set_error_serializer(ErrorSerializer(pages))
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(ValidationError, validation_failed)
    app.add_error_handler(TransportError, TransportFailed(development))
    app.add_error_handler(MessageRefused, message_refused)
    app.add_error_handler(PolicyRefused, policy_refused)
    app.add_error_handler(UnsafeHeader, unsafe_header)
    app.add_error_handler(PluginError, plugin_failed)
    app.add_error_handler(StoreUnavailable, store_unavailable)
