"""The HTTP side: Falcon resources, request-body readers, schemas, one error serializer, OpenAPI."""
