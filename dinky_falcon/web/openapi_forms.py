"""The OpenAPI paths of the contact forms: ``/forms/{name}``, its token and thank-you page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from marshmallow import Schema, fields

from .openapi_common import json_response

if TYPE_CHECKING:  # apispec is imported when the document is built (openapi.build_spec)
    from apispec import APISpec


class TokenSchema(Schema):
    token = fields.String(
        required=True, metadata={"description": "a signed timestamp, good for one submission"}
    )
    field = fields.String(required=True, metadata={"description": "the field to send it back in"})
    min_seconds = fields.Integer(required=True)


def html_response(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def json_or_html(description: str, component: str = "Error") -> dict:
    """An error answered in JSON to a client that asks for it, as a page to a browser."""
    response = json_response(description, component)
    response["content"]["text/html"] = {"schema": {"type": "string"}}
    return response


SEE_OTHER = {
    "description": "A browser's answer, for success and (with `_ERROR_REDIRECT`) for errors: to "
    "`_next` when it is on a site in ALLOWED_HOSTS, else to `_REDIRECT`, else to the "
    "thank-you page.",
    "headers": {"Location": {"schema": {"type": "string"}}},
}


def add_form_paths(spec: APISpec, names: list[str]) -> None:
    """``/forms/{name}``: docs/forms.md says what each answer means."""
    spec.components.schema("FormToken", schema=TokenSchema)
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": names},
    }
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
                                    "oneOf": [
                                        {"type": "string"},
                                        {"type": "string", "format": "binary"},
                                    ]
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
                    "200": json_response(
                        "Sent (JSON, for a client that asks for JSON or posts it).", "SendResponse"
                    ),
                    "303": SEE_OTHER,
                    **{
                        code: json_or_html(text)
                        for code, text in (
                            ("400", "The body cannot be read as the content type it names."),
                            (
                                "403",
                                "The browser's Origin is not in ALLOWED_HOSTS, or a plugin "
                                "refused the submission.",
                            ),
                            ("404", "No form of this name."),
                            ("409", "The same submission is still being sent."),
                            ("413", "The body is over MAX_BODY_SIZE."),
                            ("415", "Not a form, multipart or JSON body."),
                            ("422", "A field is missing or wrong (details by field)."),
                            ("429", "Over RATE_LIMIT for this form and client."),
                            ("502", "The upstream refused the message for good."),
                            ("503", "The upstream is unavailable: retry."),
                        )
                    },
                    "504": json_or_html(
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
                    "200": json_response(
                        "Send `token` back in the field `field`, no sooner than `min_seconds` "
                        "later.",
                        "FormToken",
                    ),
                    "404": json_or_html("No form of this name, or it has no fill-time check."),
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
                    "200": html_response("The page."),
                    "404": json_or_html("No form of this name."),
                },
            }
        },
    )
