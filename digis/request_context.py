"""The current request id, visible to logs, error bodies and Sentry.

A ContextVar follows the request through sync_to_async threads and async
tasks alike, which a thread-local would not.
"""

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Accept a caller's id only when it is short and plain, so it cannot inject
# log lines or headers; otherwise make our own.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def make_request_id(incoming: str | None) -> str:
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None):
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)
