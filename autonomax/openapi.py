"""OpenAPI: every operation documents the one error shape the API answers with."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        },
    },
}
ERROR_RESPONSES = {
    "4XX": "Bad input, missing or invalid token, not allowed, unknown id, or a state conflict.",
    "503": "A provider this operation needs is not configured or not reachable.",
}


def error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error responses to each operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(code, {"description": description, "content": content})
    return result
