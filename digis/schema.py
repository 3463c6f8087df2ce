"""OpenAPI descriptions for the project's own DRF pieces."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "digis.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


# --- error responses, documented once for every operation ---------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": 'Every error: {"error": {"code", "message", "fields", "request_id", ...}}. '
    "Clients switch on `code`; extra keys carry detail (e.g. `shortfall`, `retry_after`).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
                "request_id": {"type": "string", "nullable": True},
            },
            "required": ["code", "message", "fields", "request_id"],
            "additionalProperties": True,
        }
    },
    "required": ["error"],
}

_DESCRIPTIONS = {
    "400": "Malformed or invalid input (see `error.fields`).",
    "401": "Not signed in, or the credentials are invalid, expired or revoked.",
    "403": "Signed in, but not allowed to do this.",
    "404": "Not found (or not yours: the answer is the same).",
    "413": "The request body is too large.",
    "429": "Too many requests; `Retry-After` says when to try again.",
    "503": "A backing service is briefly unavailable; `Retry-After` says when to try again.",
}


def _needs_auth(operation: dict) -> bool:
    security = operation.get("security")
    return bool(security) and {} not in security


def _error_response(code: str) -> dict:
    response = {
        "description": _DESCRIPTIONS.get(code, "An error."),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if code in ("429", "503"):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return response


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error responses each operation can give.

    Every operation may be rate limited (429) or meet a database that is away
    (503); one that takes input may refuse it (400, 413 with a body); one with
    a path parameter may not find it (404); one that needs a user may refuse
    the caller (401, 403). Views document their own domain errors (402, 409,
    ...) with extend_schema; those are kept.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = {"429", "503"}
            parameters = operation.get("parameters", [])
            if operation.get("requestBody") or parameters:
                codes.add("400")
            if operation.get("requestBody"):
                codes.add("413")
            if any(p.get("in") == "path" for p in parameters) or "{" in path:
                codes.add("404")
            if operation.get("security"):
                codes.add("401")  # a bad or revoked bearer token, even where none is required
            if _needs_auth(operation):
                codes.add("403")
            for code in sorted(codes):
                responses.setdefault(code, _error_response(code))
            for code, response in responses.items():
                if code.startswith(("4", "5")) and not response.get("content"):
                    response.update(_error_response(code) | {"description": response.get("description") or _DESCRIPTIONS.get(code, "An error.")})
    return result


def cursor_page(item_serializer, *, name: str):
    """A serializer describing DRF's cursor page of ``item_serializer`` items (for extend_schema)."""
    from rest_framework import serializers

    return type(
        name,
        (serializers.Serializer,),
        {
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last one."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null on the first one."),
            "results": item_serializer(many=True),
        },
    )


def cursor_parameters(*, max_page_size: int):
    """The query parameters of DRF's CursorPagination, as OpenAPI parameters."""
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter("cursor", {"type": "string", "maxLength": 400}, description="From `next`/`previous`; anything else -> 400 invalid_cursor."),
        OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": max_page_size}, description="Items per page."),
    ]
