"""The OpenAPI document's shared parts: the answers' schemas and response helpers."""

from __future__ import annotations

from marshmallow import Schema, fields


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


class OutcomeUnknownSchema(ErrorSchema):
    outcome = fields.String(required=True, metadata={"enum": ["unknown"]})
    id = fields.String(metadata={"description": "the Message-ID to look for, when known"})


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
    transport = fields.String(required=True)
    plugin = fields.String(required=True, metadata={"description": "the plugin providing it"})


class TransportReadinessSchema(Schema):
    name = fields.String(required=True)
    ready = fields.Boolean(required=True)
    details = fields.String(required=True, metadata={"description": "what was checked or failed"})


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "degraded", "unavailable"]})
    transports = fields.List(fields.Nested(TransportReadinessSchema), required=True)
    stores = fields.List(
        fields.Nested(TransportReadinessSchema),
        required=True,
        metadata={
            "description": "the idempotency store: where it is (no password) and whether it answers"
        },
    )


def json_response(description: str, component: str) -> dict:
    """A response whose body is the JSON of one of the document's schemas."""
    schema = {"$ref": f"#/components/schemas/{component}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_response(description: str, retry_after: bool = False) -> dict:
    response = json_response(description, "Error")
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
        }
    return response
