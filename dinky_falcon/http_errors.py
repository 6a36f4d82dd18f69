"""Every error answer of the API: ``{"success": false, "error": title, "details": ...}``."""

from __future__ import annotations

import json
import logging

import falcon
from marshmallow import ValidationError

from .errors import MessageRefused, PluginError, TransportError
from .idempotency import StoreUnavailable
from .mime import UnsafeHeader

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


class ApiError(falcon.HTTPError):
    """An error answer; ``details`` is a string or a {field: [messages]} dict."""

    def __init__(self, status, title: str, details, headers=None):
        super().__init__(status, title=title, headers=headers)
        self.details = details


def serialize_error(req, resp, error: falcon.HTTPError) -> None:
    details = getattr(error, "details", None) or error.description or error.title
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps({"success": False, "error": error.title, "details": details}).encode()


def validation_failed(req, resp, error: ValidationError, params):
    raise ApiError(falcon.HTTP_422, "Validation failed", error.messages)


def transport_failed(req, resp, error: TransportError, params):
    if error.temporary:
        raise ApiError(
            falcon.HTTP_503,
            "Mail transport unavailable, retry later",
            str(error),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    raise ApiError(falcon.HTTP_502, "Mail transport refused the message", str(error))


def unsafe_header(req, resp, error: UnsafeHeader, params):
    raise ApiError(falcon.HTTP_422, "Validation failed", {error.field: [str(error)]})


def message_refused(req, resp, error: MessageRefused, params):
    raise ApiError(falcon.HTTP_403, "Message refused", str(error))


def store_unavailable(req, resp, error: StoreUnavailable, params):
    log.error("idempotency store: %s", error)
    raise ApiError(
        falcon.HTTP_503,
        "Idempotency store unavailable, retry later",
        "Nothing was sent: the Idempotency-Key could not be checked.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def unexpected(req, resp, error: Exception, params):
    log.error("unexpected error on %s %s", req.method, req.path, exc_info=error)
    raise ApiError(falcon.HTTP_500, "Internal server error", "The error was logged.")


def plugin_failed(req, resp, error: PluginError, params):
    log.error("%s on %s %s", error, req.method, req.path, exc_info=error)
    raise ApiError(
        falcon.HTTP_500, "Internal server error", "A mail plugin failed; the error was logged."
    )


def add_error_handlers(app: falcon.App) -> None:
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(ValidationError, validation_failed)
    app.add_error_handler(TransportError, transport_failed)
    app.add_error_handler(MessageRefused, message_refused)
    app.add_error_handler(UnsafeHeader, unsafe_header)
    app.add_error_handler(PluginError, plugin_failed)
    app.add_error_handler(StoreUnavailable, store_unavailable)
