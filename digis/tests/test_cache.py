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
