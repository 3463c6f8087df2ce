"""The Redis cache backend shares one connection pool per process."""

import pytest
from django.conf import settings
from django.core.cache import caches


@pytest.fixture
def redis_only():
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: run `make test`")


def test_backend_instances_share_one_connection_pool(redis_only):
    # Given two backend instances, as two ASGI requests get (Django keeps
    # backends per context)
    first = caches.create_connection("default")
    second = caches.create_connection("default")
    assert first is not second

    # When both talk to Redis
    first.set("shared-pool-probe", 1, 5)

    # Then they used the same pool, and so the same open connections
    assert second.get("shared-pool-probe") == 1
    assert first._cache._get_connection_pool(False) is second._cache._get_connection_pool(False)
    assert first._cache._get_connection_pool(True) is second._cache._get_connection_pool(True)


def test_backend_instances_share_one_client_across_threads(redis_only):
    # Given backend instances in several threads, as concurrent requests have them
    from concurrent.futures import ThreadPoolExecutor

    def round_trip(n):
        cache = caches.create_connection("default")
        cache.set(f"shared-client-probe-{n}", n, 5)
        return cache.get(f"shared-client-probe-{n}"), cache._cache.get_client(write=True)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(round_trip, range(32)))

    # Then every thread read its own value back through one shared client
    assert [value for value, _ in results] == list(range(32))
    assert len({id(client) for _, client in results}) == 1
