"""A hand-written OpenAPI description of the seed's API, for the schemathesis fuzz test.

Stand-in until GET /openapi.json (generated from the marshmallow schemas) is on this branch;
then test_fuzz.py loads the app's own spec with ``schemathesis.openapi.from_wsgi`` instead.
"""

ERROR = {
    "type": "object",
    "required": ["success", "error", "details"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string"},
        "details": {"oneOf": [{"type": "string"}, {"type": "object"}]},
    },
}
# No control character (TAB aside) and no Unicode line separator: nothing that ends a header.
SINGLE_LINE = "^[^\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"
ADDRESS = {"type": "string", "format": "email", "maxLength": 512}


def error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def send_api_spec() -> dict:
    errors = {
        "400": error("Malformed JSON"),
        "401": error("Missing or wrong API key"),
        "403": error("Sender, recipient or origin not allowed"),
        "413": error("Body over MAX_BODY_SIZE"),
        "415": error("Not JSON"),
        "422": error("Validation failed"),
        "429": error("Rate limited"),
    }
    send_request = {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "subject", "body"],
        "properties": {
            "to": {"oneOf": [ADDRESS, {"type": "array", "items": ADDRESS, "minItems": 1, "maxItems": 50}]},
            "subject": {"type": "string", "minLength": 1, "maxLength": 998, "pattern": SINGLE_LINE},
            "body": {"type": "string", "pattern": "^[^\\x00]*$"},
            "from": {**ADDRESS, "nullable": True},  # null: DEFAULT_FROM
            "html": {"type": "boolean"},
        },
    }
    sent = {
        "type": "object",
        "required": ["success", "message", "id", "transport"],
        "properties": {
            "success": {"const": True},
            "message": {"type": "string"},
            "id": {"type": "string"},
            "transport": {"type": "string"},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "dinky-falcon", "version": "0.1.0"},
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        },
        "paths": {
            "/send": {
                "post": {
                    "security": [{"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": send_request}},
                    },
                    "responses": {
                        "200": {"description": "Sent", "content": {"application/json": {"schema": sent}}},
                        **errors,
                    },
                }
            },
            "/health": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "Alive",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status", "transport"],
                                        "properties": {"status": {"const": "ok"}, "transport": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    }
                }
            },
        },
    }
