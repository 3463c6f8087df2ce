"""Django's Redis cache backend: one connection pool per process, and a local
fallback while Redis is away.

Shared pool. Django keeps cache backends in a context-local store, so under
ASGI every request builds a fresh ``RedisCache`` and, with it, a fresh
connection pool: each request that touched the cache opened a new TCP
connection to Redis (plus the RESP3 handshake) and dropped it at the end.
Measured on the Explore API under daphne: one new Redis connection per
request, ~8% of the process's samples in ``connect``. Sharing the pool across
the process's backend instances keeps the connections open and reused;
redis-py's pool is thread-safe and resets itself in a forked child.

Django also builds a new ``redis.Redis`` client for every cache call (its
constructor fills a ~170-entry response-callback table). One client per
pool is shared instead: a ``redis.Redis`` holds no per-command state of its
own and takes a connection from the pool for each command, so threads can
share it. Measured in daphne on the Explore API: 1.83 -> 1.65 ms of CPU per
request (bench/RESULTS.md, "Creators: Explore").

Local fallback. Everything Digis keeps in this cache can be rebuilt or lost:
read caches (creator cards, Explore pages), presence counters, rate-limit
counters, the beat heartbeat. So an unreachable or hung Redis must not turn
every page into a 500 (it did: the global rate limiter's first ``add`` raised).
When a Redis command fails with a connection error or times out, the process
marks Redis down for ``REDIS_CACHE_RETRY_S`` and answers every cache call from
a local-memory cache of its own; after that it tries Redis again, and the first
success brings it back. What that means for each user of the cache, and why it
is acceptable, is in docs/operations.md ("When Redis is away"): rate limits
count per process (a local fallback, not fail-open), presence is per process,
read caches are per process. Deletes issued while Redis is away are remembered
(up to ``MAX_MISSED_DELETES`` keys) and replayed when it is back, so a card
changed during the outage is not served stale from Redis afterwards.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_pools: dict = {}
_clients: dict = {}
_pools_lock = threading.Lock()

# What counts as "Redis is away" (not a programming error such as a wrong type).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
MAX_MISSED_DELETES = 10_000


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], tuple(sorted((name, repr(value)) for name, value in self._pool_options.items())))
        pool = _pools.get(key)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return pool

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _pools_lock:
                client = _clients.get(id(pool))
                if client is None:
                    # Pools live as long as the process, so id(pool) is never reused.
                    client = _clients[id(pool)] = self._client(connection_pool=pool)
        return client


class _Availability:
    """Per process: is Redis usable, and the local stand-in while it is not."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_until = 0.0  # time.monotonic(); 0 = up
        self.down_since = None
        self.local = LocMemCache("digis-redis-fallback", {"TIMEOUT": 300, "OPTIONS": {"MAX_ENTRIES": 50_000}})
        self.missed_deletes: set[str] = set()

    def usable(self) -> bool:
        """True while Redis is up; while it is down, True for one caller per retry interval (the probe)."""
        if self.down_until == 0.0:
            return True
        now = time.monotonic()
        if now < self.down_until:
            return False
        with self.lock:
            if self.down_until == 0.0:
                return True
            if now < self.down_until:
                return False
            # This caller probes; everyone else keeps using the local stand-in meanwhile.
            self.down_until = now + getattr(settings, "REDIS_CACHE_RETRY_S", 5.0)
            return True

    def failed(self, exc: Exception) -> None:
        retry_s = getattr(settings, "REDIS_CACHE_RETRY_S", 5.0)
        with self.lock:
            first = self.down_until == 0.0
            self.down_until = time.monotonic() + retry_s
            if first:
                self.down_since = time.monotonic()
        if first:
            logger.warning("redis cache unavailable, answering from this process's memory: %s", exc)

    def recover(self, cache: "SharedPoolRedisCache") -> None:
        """Redis answers again (this caller is the probe): replay the deletes it missed, then mark it up.

        Raises what Redis raises if it is still away, before anything is marked up,
        so nobody reads a value from Redis that a missed delete should have removed.
        """
        with self.lock:
            replay = set(self.missed_deletes)
        if replay:
            cache._cache.delete_many(list(replay))
        else:
            cache._cache.get_client().ping()
        with self.lock:
            self.missed_deletes -= replay
            away_s = time.monotonic() - (self.down_since or time.monotonic())
            self.down_until = 0.0
            self.down_since = None
        logger.warning("redis cache back after %.1f s; replayed %d deletes", away_s, len(replay))

    def missed_delete(self, keys) -> None:
        with self.lock:
            if len(self.missed_deletes) < MAX_MISSED_DELETES:
                self.missed_deletes.update(keys)


availability = _Availability()


def redis_cache_down() -> bool:
    """Whether this process has found Redis away and not yet seen it back."""
    return availability.down_until != 0.0


class SharedPoolRedisCache(RedisCache):
    """RedisCache with a process-wide pool and client, falling back to local memory while Redis is away."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    def _call(self, name: str, args, kwargs, *, deletes=None):
        if availability.usable():
            try:
                if availability.down_until != 0.0:
                    availability.recover(self)  # this call is the probe
                return getattr(super(), name)(*args, **kwargs)
            except UNAVAILABLE as exc:
                availability.failed(exc)
        if deletes is not None:
            availability.missed_delete(deletes)
        # Keys in the local stand-in carry the same prefix and version.
        return getattr(availability.local, name)(*args, **kwargs)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", (key, value), {"timeout": timeout, "version": version})

    def get(self, key, default=None, version=None):
        return self._call("get", (key, default), {"version": version})

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", (key, value), {"timeout": timeout, "version": version})

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", (key,), {"timeout": timeout, "version": version})

    def delete(self, key, version=None):
        return self._call("delete", (key,), {"version": version}, deletes=[self.make_and_validate_key(key, version=version)])

    def get_many(self, keys, version=None):
        return self._call("get_many", (keys,), {"version": version})

    def has_key(self, key, version=None):
        return self._call("has_key", (key,), {"version": version})

    def incr(self, key, delta=1, version=None):
        return self._call("incr", (key, delta), {"version": version})

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", (data,), {"timeout": timeout, "version": version})

    def delete_many(self, keys, version=None):
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        return self._call("delete_many", (keys,), {"version": version}, deletes=made)

    def clear(self):
        availability.local.clear()
        return self._call("clear", (), {})

    def ping(self) -> None:
        """Ask Redis itself (no local fallback); raises when it does not answer. For readiness probes."""
        try:
            self._cache.get_client().ping()
        except UNAVAILABLE as exc:
            availability.failed(exc)
            raise

    def raw_redis_client(self):
        """The shared ``redis.Redis`` client, for data structures the cache API
        lacks (``digis.realtime.online_set``'s sorted set), or None while this
        process holds Redis for away (the caller uses its local stand-in, as the
        cache does). Keys go through ``make_key`` so the prefix still applies.
        A caller whose command fails with ``UNAVAILABLE`` reports it through
        ``redis_unavailable``."""
        if redis_cache_down():
            return None
        return self._cache.get_client(write=True)


def redis_unavailable(exc: Exception) -> None:
    """A raw Redis command failed because Redis is away: the cache's calls go local too."""
    availability.failed(exc)
