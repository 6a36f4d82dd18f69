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
        fields.Nested(TransportReadinessSchema), required=True,
        metadata={"description": "the idempotency store: where it is (no password) and whether it answers"},
    )


def _json(description: str, component: str) -> dict:
    """A response whose body is the JSON of one of the document's schemas."""
    schema = {"$ref": f"#/components/schemas/{component}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, retry_after: bool = False) -> dict:
    response = _json(description, "Error")
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
        }
    return response


# What any guarded endpoint may answer before its own work starts (docs/security.md).
GUARD_RESPONSES = {
    "401": _error("API_KEYS is set and the request carries no valid key."),
    "403": _error("The browser's Origin is not in ALLOWED_HOSTS."),
    "429": _error("Over RATE_LIMIT or RATE_LIMIT_PER_KEY.", retry_after=True),
}


SEND_RESPONSES = {
    "200": {
        **_json(
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
    "400": _error("The body is not valid JSON, repeats a key, or escapes half a surrogate pair."),
    "403": _error(
        "The sender, a recipient or the browser's Origin is not allowed, or a plugin refused "
        "the message."
    ),
    "409": _error("A request with this Idempotency-Key is still in progress."),
    "413": _error("The body is over MAX_BODY_SIZE."),
    "415": _error("The body is not application/json."),
    "422": _error(
        "Validation failed (details by field, Idempotency-Key included), or the "
        "Idempotency-Key was used with another body."
    ),
    "502": _error("The upstream refused the message for good."),
    "503": _error("The upstream or the idempotency store is unavailable: retry.", retry_after=True),
    "504": _json(
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


def build_spec(send_schema: SendSchema, forms=()) -> dict:
    """The OpenAPI document for this app; ``send_schema`` carries the configured limits, and
    ``forms`` (settings.forms) the form endpoints, which are there only when forms are."""
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
                    "200": _json("The service runs.", "Health"),
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
                    "200": _json(
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
        _add_form_paths(spec, sorted(form.name for form in forms))
    return spec.to_dict()


class TokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "a signed timestamp, good for one submission"})
    field = fields.String(required=True, metadata={"description": "the field to send it back in"})
    min_seconds = fields.Integer(required=True)


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _json_or_html(description: str, component: str = "Error") -> dict:
    """An error answered in JSON to a client that asks for it, as a page to a browser."""
    response = _json(description, component)
    response["content"]["text/html"] = {"schema": {"type": "string"}}
    return response


SEE_OTHER = {
    "description": "A browser's answer, for success and (with `_ERROR_REDIRECT`) for errors: to "
    "`_next` when it is on a site in ALLOWED_HOSTS, else to `_REDIRECT`, else to the "
    "thank-you page.",
    "headers": {"Location": {"schema": {"type": "string"}}},
}


def _add_form_paths(spec: APISpec, names: list[str]) -> None:
    """``/forms/{name}``: docs/forms.md says what each answer means."""
    spec.components.schema("FormToken", schema=TokenSchema)
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": names}}
    text_fields = {"type": "object", "additionalProperties": {"type": "string"}}
    spec.path(
        path="/forms/{name}",
        operations={
            "post": {
                "summary": "Submit a contact form: mailed to the form's own recipients",
                "parameters": [name],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": text_fields},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": {
                                    "oneOf": [{"type": "string"}, {"type": "string", "format": "binary"}]
                                },
                            }
                        },
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": {
                                    "oneOf": [
                                        {"type": "string"},
                                        {"type": "array", "items": {"type": "string"}},
                                    ]
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "200": _json(
                        "Sent (JSON, for a client that asks for JSON or posts it).", "SendResponse"
                    ),
                    "303": SEE_OTHER,
                    **{code: _json_or_html(text) for code, text in (
                        ("400", "The body cannot be read as the content type it names."),
                        ("403", "The browser's Origin is not in ALLOWED_HOSTS, or a plugin "
                         "refused the submission."),
                        ("404", "No form of this name."),
                        ("409", "The same submission is still being sent."),
                        ("413", "The body is over MAX_BODY_SIZE."),
                        ("415", "Not a form, multipart or JSON body."),
                        ("422", "A field is missing or wrong (details by field)."),
                        ("429", "Over RATE_LIMIT for this form and client."),
                        ("502", "The upstream refused the message for good."),
                        ("503", "The upstream is unavailable: retry."),
                    )},
                    "504": _json_or_html(
                        "Outcome unknown: the message may have been sent.", "OutcomeUnknown"
                    ),
                },
            }
        },
    )
    spec.path(
        path="/forms/{name}/token",
        operations={
            "get": {
                "summary": "A signed timestamp for the fill-time check (_MIN_SECONDS)",
                "parameters": [name],
                "responses": {
                    "200": _json(
                        "Send `token` back in the field `field`, no sooner than `min_seconds` "
                        "later.",
                        "FormToken",
                    ),
                    "404": _json_or_html("No form of this name, or it has no fill-time check."),
                },
            }
        },
    )
    spec.path(
        path="/forms/{name}/thanks",
        operations={
            "get": {
                "summary": "The service's own thank-you page",
                "parameters": [name],
                "responses": {
                    "200": _html("The page."),
                    "404": _json_or_html("No form of this name."),
                },
            }
        },
    )


class OpenApiResource:
    """Built once at start: the document never changes while the service runs."""

    def __init__(self, document: dict):
        self.document = document

    def on_get(self, req, resp) -> None:
        resp.media = self.document
