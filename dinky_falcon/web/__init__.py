"""The HTTP side: Falcon resources and the pages they serve, request-body readers, schemas,
one error serializer, OpenAPI."""
