"""The realtime backbone: one WebSocket per browser tab at /ws/.

- ``events.send_event_on_commit(user_ids, event)`` pushes a typed JSON event to
  every open socket of those users, once the current transaction commits.
- ``registry.on("type")`` registers a handler for an event a client sends.
- ``presence`` tracks who is online in the cache.
"""
