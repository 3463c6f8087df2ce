"""Client -> server events: apps register a handler per event type.

A handler is ``def handler(*, user, payload, consumer) -> dict | None`` (sync
handlers run in a worker thread with database access) or an ``async def`` of
the same shape. It parses the payload, calls a service and returns an
optional reply event. Raising a DomainError sends an ``error`` event with the
error's code; nothing else leaks to the client.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async


@dataclass(frozen=True)
class Handler:
    event_type: str
    func: Callable
    is_async: bool

    async def __call__(self, **kwargs):
        if self.is_async:
            return await self.func(**kwargs)
        return await database_sync_to_async(self.func)(**kwargs)


_handlers: dict[str, Handler] = {}


def on(event_type: str):
    """Decorator: register the handler for client events of ``event_type``."""

    def register(func):
        existing = _handlers.get(event_type)
        if existing and existing.func is not func:
            raise RuntimeError(f"a handler for {event_type!r} is already registered ({existing.func!r})")
        _handlers[event_type] = Handler(event_type, func, inspect.iscoroutinefunction(func))
        return func

    return register


def handler_for(event_type: str) -> Handler | None:
    return _handlers.get(event_type)


def registered_types() -> list[str]:
    return sorted(_handlers)
