"""``GET /openapi.json``: OpenAPI 3.1 generated (by apispec) from the schemas that validate."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from .idempotency import MAX_KEY_LENGTH
from .resources import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from .fields import MAILBOX_COMPONENT
from .schemas import AttachmentSchema, SendSchema


class SendResponseSchema(Schema):
    success = fields.Boolean(required=True, metadata={"enum": [True]})
    message = fields.String(required=True, metadata={"example": "Email sent successfully"})
    id = fields.String(required=True, metadata={"description": "the Message-ID, with <>"})
    transport = fields.String(required=True, metadata={"description": "the transport that took it"})


class ErrorSchema(Schema):
    success = fields.Boolean(required=True, metadata={"enum": [False]})
    error = fields.String(required=True, metadata={"description": "a short title"})
    details = fields.Raw(
        required=True,
        metadata={
            "description": "a sentence, or for 422 the messages by field (lists, or objects "
            "by list index / key for nested fields)",
            "oneOf": [{"type": "string"}, {"type": "object"}],
        },
    )


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
    transport = fields.String(required=True)


def _error(description: str, retry_after: bool = False) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
        }
    return response


SEND_RESPONSES = {
    "200": {
        "description": "The transport accepted the message (or, with `Idempotent-Replayed: "
        "true`, an earlier request with the same Idempotency-Key and body did).",
        "headers": {
            REPLAYED_HEADER: {
                "description": "present (`true`) when this is a stored answer and nothing was sent",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SendResponse"}}},
    },
    "400": _error("The body is not valid JSON, or repeats a key."),
    "403": _error("A plugin refused the message."),
    "409": _error("A request with this Idempotency-Key is still in progress."),
    "413": _error("The body is over MAX_BODY_SIZE."),
    "415": _error("The body is not application/json."),
    "422": _error(
        "Validation failed (details by field, Idempotency-Key included), or the "
        "Idempotency-Key was used with another body."
    ),
    "502": _error("The upstream refused the message for good."),
    "503": _error("The upstream or the idempotency store is unavailable: retry.", retry_after=True),
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
            {"not": {"required": ["attachments"], "properties": {"attachments": {"contains": {"required": ["content_id"]}}}}},
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


def build_spec(send_schema: SendSchema) -> dict:
    """The OpenAPI document for this app; ``send_schema`` carries the configured limits."""
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
    spec.components.schema("Health", schema=HealthSchema)
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
                    "200": {
                        "description": "The service runs.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                        },
                    }
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
    return spec.to_dict()


class OpenApiResource:
    """Built once at start: the document never changes while the service runs."""

    def __init__(self, document: dict):
        self.document = document

    def on_get(self, req, resp) -> None:
        resp.media = self.document
