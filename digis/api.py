"""API plumbing shared by every app: the one error body."""


from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from digis.errors import DomainError
from digis.request_context import current_request_id


# DRF exception class -> our stable code.
_DRF_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def error_body(*, code: str, message: str, fields: dict | None = None, **extra) -> dict:
    body = {"code": code, "message": message, "fields": fields or {}, "request_id": current_request_id()}
    body.update(extra)
    return {"error": body}


def _flatten(detail):
    """DRF error detail -> plain strings (lists of messages per field)."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc, context):
    """Render every error the API raises as {"error": {code, message, fields, request_id}}."""
    if isinstance(exc, DomainError):
        set_rollback()
        headers = {}
        if exc.status_code in (429, 503) and exc.extra.get("retry_after"):
            # Every "slow down" and "come back later" says when (RFC 9110 Retry-After).
            headers["Retry-After"] = str(max(1, int(exc.extra["retry_after"])))
        return Response(
            error_body(code=exc.code, message=exc.message, fields=exc.fields, **exc.extra),
            status=exc.status_code,
            headers=headers,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        if isinstance(detail, dict):
            fields = {key: value for key, value in detail.items() if key != "non_field_errors"}
            non_field = detail.get("non_field_errors")
            message = non_field[0] if non_field else "Some of the input is not valid."
        else:
            fields = {}
            message = detail[0] if detail else "Some of the input is not valid."
        # A serializer may raise ValidationError with a specific code; keep it.
        codes = exc.get_codes()
        if isinstance(codes, dict) and list(codes) == ["non_field_errors"]:
            first = codes["non_field_errors"][0]
            code = first if first != "invalid" else code
        elif isinstance(codes, list) and codes and codes[0] != "invalid":
            code = codes[0]
        return Response(error_body(code=code, message=message, fields=fields), status=exc.status_code, headers=headers)

    detail = exc.detail
    message = str(detail) if not isinstance(detail, (list, dict)) else str(_flatten(detail))
    if isinstance(exc, exceptions.ParseError) and getattr(detail, "code", None) not in (None, exc.default_code):
        code = detail.code  # a specific refusal (digis.parsers: too_deep, null_character)
    if code is None:
        code = getattr(detail, "code", None) or exc.default_code
    return Response(error_body(code=code, message=message), status=exc.status_code, headers=headers)


def api_error_response(*, code: str, message: str, status_code: int, headers: dict | None = None):
    """A plain Django JsonResponse in the API error shape, for code outside DRF
    (middleware, error handlers, signed webhooks)."""
    response = JsonResponse(error_body(code=code, message=message), status=status_code)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


__all__ = ["exception_handler", "error_body", "api_error_response", "status"]
