"""Query-parameter parsing that turns bad input into a 400 with a code, never a 500."""

import uuid

from digis.errors import InvalidInput


def parse_uuid(value: str | None, *, name: str, required: bool = False) -> uuid.UUID | None:
    if value in (None, ""):
        if required:
            raise InvalidInput(f"'{name}' is required.", fields={name: ["This parameter is required."]})
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"'{name}' is not a valid id.", fields={name: ["Must be a UUID."]}, code="invalid_id")


def parse_int(value: str | None, *, name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"'{name}' must be a whole number.", fields={name: ["Must be a whole number."]})
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InvalidInput(f"'{name}' is out of range.", fields={name: [f"Must be between {minimum} and {maximum}."]})
    return number
