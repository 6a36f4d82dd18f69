"""``GET /openapi.json``: OpenAPI 3.1 generated (by apispec) from the schemas that validate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from ..idempotency import MAX_KEY_LENGTH
from .body import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from .fields import MAILBOX_COMPONENT
from .openapi_common import (
    ErrorSchema,
    HealthSchema,
    OutcomeUnknownSchema,
    ReadinessSchema,
    SendResponseSchema,
    error_response,
    json_response,
)
from .openapi_forms import add_form_paths
from .schemas import MAX_REPLY_TO, AttachmentSchema, SendSchema

# What any guarded endpoint may answer before its own work starts (docs/security.md).
GUARD_RESPONSES = {
    "401": error_response("API_KEYS is set and the request carries no valid key."),
    "403": error_response("The browser's Origin is not in ALLOWED_HOSTS."),
    "429": error_response("Over RATE_LIMIT or RATE_LIMIT_PER_KEY.", retry_after=True),
}


SEND_RESPONSES = {
    "200": {
        **json_response(
            "The transport accepted the message (or, with `Idempotent-Replayed: true`, an "
            "earlier request with the same Idempotency-Key and body did).",
            "SendResponse",
        ),
        "headers": {
            REPLAYED_HEADER: {
                "description": "present (`true`) when this is a stored answer and nothing was sent",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    },
    **GUARD_RESPONSES,
    "400": error_response(
        "The body is not valid JSON, repeats a key, or escapes half a surrogate pair."
    ),
    "403": error_response(
        "The sender, a recipient or the browser's Origin is not allowed, or a plugin refused "
        "the message."
    ),
    "409": error_response("A request with this Idempotency-Key is still in progress."),
    "413": error_response("The body is over MAX_BODY_SIZE."),
    "415": error_response("The body is not application/json."),
    "422": error_response(
        "Validation failed (details by field, Idempotency-Key included), or the "
        "Idempotency-Key was used with another body."
    ),
    "502": error_response("The upstream refused the message for good."),
    "503": error_response(
        "The upstream or the idempotency store is unavailable: retry.", retry_after=True
    ),
    "504": json_response(
        "Outcome unknown: the upstream had the message, its reply was lost. Do not retry "
        "blindly; the Idempotency-Key answers the same.",
        "OutcomeUnknown",
    ),
}


# SendSchema's @validates_schema rules, in JSON Schema (no if/then: test generators such as
# schemathesis handle not/anyOf better).
HTML_STRING = {"required": ["html"], "properties": {"html": {"type": "string"}}}
HTML_TRUE = {"required": ["html"], "properties": {"html": {"const": True}}}
BODY_SEED = {"required": ["body"]}
CROSS_FIELD_RULES = [
    # `body` (with `html` as a flag), or `text` and/or `html` as a string.
    {"not": {"required": ["body", "text"]}},
    {"not": {"allOf": [BODY_SEED, HTML_STRING]}},
    {"anyOf": [BODY_SEED, {"not": HTML_TRUE}]},
    {"not": {"required": ["from", "sender_name"]}},
    # An inline part (content_id) needs an HTML body.
    {
        "anyOf": [
            {
                "not": {
                    "required": ["attachments"],
                    "properties": {"attachments": {"contains": {"required": ["content_id"]}}},
                }
            },
            HTML_STRING,
            {"allOf": [BODY_SEED, HTML_TRUE]},
        ]
    },
]


def _version() -> str:
    try:
        return version("dinky-falcon")
    except PackageNotFoundError:
        return "0"


def extra_keywords(self, field, **kwargs) -> dict:
    """JSON Schema keywords apispec does not pass through (``metadata={"jsonschema": {...}}``)."""
    return field.metadata.get("jsonschema", {})


def build_spec(send_schema: SendSchema, forms=()) -> dict:
    """The OpenAPI document for this app; ``send_schema`` carries the configured limits, and
    ``forms`` (settings.forms) the form endpoints, which are there only when forms are."""
    from apispec import APISpec  # with the document: the idle service does without it
    from apispec.ext.marshmallow import MarshmallowPlugin

    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="dinky-falcon Mail API",
        version=_version(),
        openapi_version="3.1.0",
        plugins=[marshmallow_plugin],
        info={"description": "Send mail from websites with one HTTP call."},
    )
    marshmallow_plugin.converter.add_attribute_function(extra_keywords)
    spec.components.schema("Mailbox", component=MAILBOX_COMPONENT)
    spec.components.schema("Attachment", schema=AttachmentSchema)
    spec.components.schema(
        "SendRequest",
        component={
            "description": f"At most {send_schema.max_recipients} recipients in to, cc and bcc "
            f"together, and {send_schema.max_attachment_bytes} bytes of attachments (decoded).",
            "anyOf": [BODY_SEED, {"required": ["text"]}, HTML_STRING],
            "allOf": CROSS_FIELD_RULES,
        },
        schema=send_schema,
    )
    spec.components.schema("SendResponse", schema=SendResponseSchema)
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("OutcomeUnknown", schema=OutcomeUnknownSchema)
    spec.components.schema("Health", schema=HealthSchema)
    spec.components.schema("Readiness", schema=ReadinessSchema)
    spec.path(
        path="/send",
        operations={
            "post": {
                "summary": "Send one message",
                "parameters": [
                    {
                        "name": IDEMPOTENCY_HEADER,
                        "in": "header",
                        "required": False,
                        "description": "Repeat a request safely: the same key and body within "
                        "IDEMPOTENCY_TTL is answered from the first send.",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_KEY_LENGTH,
                            "pattern": "^[ -~]+$",
                        },
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/SendRequest"}}
                    },
                },
                "responses": SEND_RESPONSES,
            }
        },
    )
    spec.path(
        path="/health",
        operations={
            "get": {
                "summary": "Liveness, without contacting the upstream",
                "responses": {
                    "200": json_response("The service runs.", "Health"),
                },
            }
        },
    )
    spec.path(
        path="/health/ready",
        operations={
            "get": {
                "summary": "Readiness: talks to each selected transport's upstream, sends nothing",
                "responses": {
                    "200": json_response(
                        "Every transport is ready, or (degraded) failover still has one.",
                        "Readiness",
                    ),
                    **GUARD_RESPONSES,
                    "503": {
                        "description": "No transport is ready, or the idempotency store "
                        "does not answer; details say what failed.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "allOf": [
                                        {"$ref": "#/components/schemas/Error"},
                                        {"$ref": "#/components/schemas/Readiness"},
                                    ]
                                }
                            }
                        },
                    },
                },
            }
        },
    )
    spec.path(
        path="/openapi.json",
        operations={
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    )
    if forms:
        add_form_paths(spec, sorted(form.name for form in forms))
    return _with_item_limits(spec.to_dict(), send_schema)


def _with_item_limits(document: dict, send_schema: SendSchema) -> dict:
    """``maxItems`` on the lists SendSchema counts before it parses them (``counts_first``):
    apispec cannot see those limits, some of which are configured."""
    limits = {
        "to": send_schema.max_recipients,  # to, cc and bcc together: none alone has more
        "cc": send_schema.max_recipients,
        "bcc": send_schema.max_recipients,
        "reply_to": MAX_REPLY_TO,
        "attachments": send_schema.max_attachments,
    }
    properties = document["components"]["schemas"]["SendRequest"]["properties"]
    for name, limit in limits.items():
        # New dicts: apispec's output shares the fields' schemas between properties.
        schema = dict(properties[name])
        if schema.get("type") == "array":
            schema["maxItems"] = limit
        else:  # one address, or a list of them
            schema["oneOf"] = [
                dict(one, maxItems=limit) if one.get("type") == "array" else one
                for one in schema["oneOf"]
            ]
        properties[name] = schema
    return document


class OpenApiResource:
    """The document, built by ``build`` at the first GET (it never changes while the service
    runs): a service that is never asked for it keeps neither it nor apispec in memory."""

    def __init__(self, build: Callable[[], dict]):
        self.build = build
        self.document: dict | None = None
        self._lock = threading.Lock()

    def on_get(self, req, resp) -> None:
        if self.document is None:
            with self._lock:
                if self.document is None:
                    self.document = self.build()
        resp.media = self.document
