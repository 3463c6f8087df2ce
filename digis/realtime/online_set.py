"""The set of users online, countable in one round trip (the console's "users online").

Presence itself is a counter per user in the cache (``presence``), which
answers "is this user online?" but cannot be counted without scanning every
key. Alongside it, each user online is a member of one Redis sorted set whose
score is when their presence expires (refreshed with the same TTL, removed
when their last socket closes). Counting the members whose score is still in
the future gives exactly the users ``presence.is_online`` would say yes to,
in O(log n), and a process that dies without saying goodbye leaves nothing
behind for longer than the presence TTL.

Without Redis (the embedded default: one process), and while the cache holds
Redis for away (``digis.cache``: presence is per process then), a dict in
this process plays the sorted set.
"""

import threading
import time

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# What counts as "Redis is away" (as digis.cache.UNAVAILABLE).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

_KEY = "presence:online-set"
_local: dict[str, float] = {}
_local_lock = threading.Lock()


def _redis():
    """The cache's own redis.Redis client, or None on a non-Redis cache or while Redis is away."""
    client_for = getattr(cache, "raw_redis_client", None)
    return client_for() if client_for is not None else None


def _away(exc: Exception) -> None:
    from digis.cache import redis_unavailable

    redis_unavailable(exc)


def _key() -> str:
    return cache.make_key(_KEY)


def touch(user_id, ttl: int | None = None) -> None:
    expires = time.time() + (ttl if ttl is not None else settings.PRESENCE_TTL_S)
    client = _redis()
    if client is not None:
        try:
            client.zadd(_key(), {str(user_id): expires})
            return
        except UNAVAILABLE as exc:
            _away(exc)
    with _local_lock:
        _local[str(user_id)] = expires


def remove(user_id) -> None:
    with _local_lock:
        _local.pop(str(user_id), None)
    client = _redis()
    if client is not None:
        try:
            client.zrem(_key(), str(user_id))
        except UNAVAILABLE as exc:
            _away(exc)


def count() -> int:
    """Users online now (expired members are dropped on the way)."""
    now = time.time()
    client = _redis()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=False)
            pipe.zremrangebyscore(_key(), "-inf", now)
            pipe.zcount(_key(), f"({now}", "+inf")
            return int(pipe.execute()[1])
        except UNAVAILABLE as exc:
            _away(exc)
    with _local_lock:
        for user_id in [u for u, expires in _local.items() if expires <= now]:
            del _local[user_id]
        return len(_local)


def clear() -> None:
    with _local_lock:
        _local.clear()
    client = _redis()
    if client is not None:
        client.delete(_key())
