"""Domain errors. Every app's exceptions derive from DomainError.

Each carries a stable machine-readable ``code`` (clients switch on it; never
rename one), an HTTP status for the API, a human message and optional
per-field messages. The API's exception handler renders them all in one shape.
"""


class DomainError(Exception):
    code = "error"
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: dict | None = None, code: str | None = None, **extra):
        self.message = message or self.default_message
        self.fields = fields or {}
        if code:
            self.code = code
        # Extra, structured detail for the client (e.g. a shortfall in tokens).
        self.extra = extra
        super().__init__(self.message)


class InvalidInput(DomainError):
    code = "invalid"
    status_code = 400
    default_message = "Some of the input is not valid."


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."


class Forbidden(DomainError):
    code = "forbidden"
    status_code = 403
    default_message = "You may not do that."


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_message = "That conflicts with the current state."


class PaymentRequired(DomainError):
    code = "payment_required"
    status_code = 402
    default_message = "Not enough tokens."


class ServiceUnavailable(DomainError):
    """A backing service this action truly needs (Redis for live presence) is away; retry later."""

    code = "service_unavailable"
    status_code = 503
    default_message = "This is briefly unavailable. Please try again in a few seconds."
