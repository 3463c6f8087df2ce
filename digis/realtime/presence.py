"""Who is online, kept in the cache (Redis in production, shared by every process).

Each user has a counter of open sockets with a TTL. Sockets refresh the TTL
with their pings, so a process that dies without saying goodbye leaves at
most PRESENCE_TTL_S of stale "online" behind.
"""

from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache

from digis.realtime import online_set


def _key(user_id) -> str:
    return f"presence:{user_id}"


def mark_connected(user_id) -> None:
    key = _key(user_id)
    ttl = settings.PRESENCE_TTL_S
    cache.add(key, 0, ttl)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, ttl)
    cache.touch(key, ttl)
    online_set.touch(user_id, ttl)


def mark_disconnected(user_id) -> None:
    key = _key(user_id)
    try:
        remaining = cache.decr(key)
    except ValueError:
        online_set.remove(user_id)
        return
    if remaining <= 0:
        cache.delete(key)
        online_set.remove(user_id)


def refresh(user_id) -> None:
    if not cache.touch(_key(user_id), settings.PRESENCE_TTL_S):
        mark_connected(user_id)
    else:
        online_set.touch(user_id)


def presence_unknown() -> bool:
    """True while the shared cache (Redis) is away: this process sees only its own sockets."""
    from digis.cache import redis_cache_down

    return redis_cache_down()


def is_online(user_id) -> bool:
    return (cache.get(_key(user_id)) or 0) > 0


def online_user_ids(user_ids: Iterable) -> set[str]:
    """The subset of ``user_ids`` (as strings) with at least one open socket."""
    ids = [str(user_id) for user_id in user_ids]
    found = cache.get_many([_key(user_id) for user_id in ids])
    return {user_id for user_id in ids if (found.get(_key(user_id)) or 0) > 0}


def online_count() -> int:
    """How many users are online now (exact, one round trip: ``online_set``)."""
    return online_set.count()
