"""Redis away: the cache answers from local memory, pages still render, rate limits still count,
and deletes made meanwhile reach Redis when it is back. The channel layer's idle receive
outlives redis-py's default socket timeout."""

import asyncio
import os
import socket

import pytest
from django.core.cache import caches
from django.test import override_settings

from digis import cache as digis_cache


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket closes


def _redis_cache(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "digis.cache.SharedPoolRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "outage-test",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture
def fresh_availability():
    digis_cache.availability.__init__()
    yield digis_cache.availability
    digis_cache.availability.__init__()


@pytest.fixture
def redis_away(fresh_availability):
    # One override_settings for everything the tests change: mixing it with
    # pytest-django's `settings` fixture restores the wrong snapshot at
    # teardown (the dead CACHES leaked into every later test).
    with override_settings(CACHES=_redis_cache(f"redis://127.0.0.1:{_closed_port()}/0"), GLOBAL_RATE_LIMIT="5/m"):
        yield caches["default"]


def test_the_cache_answers_from_memory_while_redis_is_away(redis_away, fresh_availability):
    assert redis_away.get("missing", "default") == "default"
    assert fresh_availability.down_until != 0.0
    redis_away.set("k", 1, 30)
    assert redis_away.get("k") == 1
    assert redis_away.add("counter", 0, 30)
    assert redis_away.incr("counter") == 1
    assert redis_away.get_many(["k", "nothing"]) == {"k": 1}


@pytest.mark.django_db
def test_pages_and_reads_still_answer_and_rate_limits_still_count(redis_away, client):
    statuses = [client.get("/explore/").status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert client.get("/api/categories/").status_code == 429  # a local fallback, not fail-open
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_says_503_naming_the_cache(redis_away, client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "cache" in response.json()["failed"]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: run `make test`")
def test_deletes_made_while_away_are_replayed_when_redis_is_back(fresh_availability):
    with override_settings(CACHES=_redis_cache(os.environ["REDIS_URL"])):
        cache = caches["default"]
        cache.set("card:1", "old", 60)
        fresh_availability.failed(ConnectionError("pretend Redis went away"))
        cache.delete("card:1")  # lands in local memory only, and is remembered
        fresh_availability.down_until = 1.0  # the retry interval has passed
        assert cache.get("card:1") is None  # the probe succeeds; the delete is replayed first
        assert fresh_availability.down_until == 0.0
        assert cache._cache.get(cache.make_and_validate_key("card:1"), None) is None


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: run `make test`")
async def test_an_idle_receive_outlives_redis_pys_default_socket_timeout():
    # redis-py 8 reads with a 5 s socket timeout by default; channels_redis
    # blocks in BZPOPMIN for 5 s. The layer as configured must simply wait.
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 7)  # our timeout, not redis-py's
    await layer.send(channel, {"type": "still.alive"})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "still.alive"
