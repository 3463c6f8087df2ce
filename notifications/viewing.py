"""Which conversation thread each of a person's sockets is showing right now.

"A new message notifies you unless you are looking at that thread": the
messaging page says what it shows, either by sending the socket event
``{"type": "notifications.viewing", "thread": "<id>" | null}`` (handled in
``notifications.consumers``) or, from messaging's own socket handlers, by
calling ``set_viewing`` with the socket's channel name. ``notify`` checks
``is_viewing`` after commit for ``MESSAGE_NEW`` notifications carrying
``data["thread"]``.

Stored in the cache (Redis in production, so every web process sees it), one
entry per user: {socket id: [thread, expires at]}. An entry lives
PRESENCE_TTL_S unless the page says it again (the socket's 30 s ping is the
natural moment); a tab that closes without saying so stops counting then.
Two tabs of one person changing threads at the same instant may lose one
write (read-modify-write): the worst case is one extra or one missing
notification, never a wrong one for someone else.
"""

import time

from django.conf import settings
from django.core.cache import cache

MAX_THREAD_CHARS = 64
MAX_SOCKETS = 32


def _key(user_id) -> str:
    return f"notifications:viewing:{user_id}"


def _ttl() -> int:
    return int(settings.PRESENCE_TTL_S)


def set_viewing(*, user_id, socket_id: str, thread: str | None) -> None:
    """Socket ``socket_id`` of ``user_id`` now shows ``thread`` (None: no thread, or the tab is hidden)."""
    now = time.time()
    entries = {
        sid: entry for sid, entry in (cache.get(_key(user_id)) or {}).items() if entry[1] > now and sid != socket_id
    }
    if thread:
        entries[str(socket_id)] = [str(thread)[:MAX_THREAD_CHARS], now + _ttl()]
    # A person has a handful of tabs; keep the newest if something misbehaves.
    entries = dict(sorted(entries.items(), key=lambda item: item[1][1])[-MAX_SOCKETS:])
    if entries:
        cache.set(_key(user_id), entries, timeout=_ttl())
    else:
        cache.delete(_key(user_id))


def is_viewing(*, user_id, thread: str) -> bool:
    """Whether any live socket of ``user_id`` shows ``thread``."""
    now = time.time()
    thread = str(thread)[:MAX_THREAD_CHARS]
    return any(entry[0] == thread and entry[1] > now for entry in (cache.get(_key(user_id)) or {}).values())
