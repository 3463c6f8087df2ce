"""Django's Redis cache backend with one connection pool per process.

Django keeps cache backends in a context-local store, so under ASGI every
request builds a fresh ``RedisCache`` and, with it, a fresh connection pool:
each request that touched the cache opened a new TCP connection to Redis
(plus the RESP3 handshake) and dropped it at the end. Measured on the Explore
API under daphne: one new Redis connection per request, ~8% of the process's
samples in ``connect``. Sharing the pool across the process's backend
instances keeps the connections open and reused; redis-py's pool is
thread-safe and resets itself in a forked child.

Django also builds a new ``redis.Redis`` client for every cache call (its
constructor fills a ~170-entry response-callback table). One client per
pool is shared instead: a ``redis.Redis`` holds no per-command state of its
own and takes a connection from the pool for each command, so threads can
share it. Measured in daphne on the Explore API: 1.83 -> 1.65 ms of CPU per
request (bench/RESULTS.md, "Creators: Explore").
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict = {}
_clients: dict = {}
_pools_lock = threading.Lock()


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


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

    def raw_redis_client(self):
        """The shared ``redis.Redis`` client, for data structures the cache API
        lacks (``digis.realtime.online_set``'s sorted set). Keys go through
        ``make_key`` so the prefix still applies."""
        return self._cache.get_client(write=True)
