"""Liveness and readiness probes for load balancers and orchestrators."""

import asyncio
import time
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

CHECK_TIMEOUT_S = 3.0


def healthz(request):
    """Liveness: the process answers. No I/O, so a slow database never gets us killed."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _check_cache() -> str:
    # The Redis cache answers from local memory while Redis is away
    # (digis/cache.py); readiness must ask Redis itself.
    if hasattr(cache, "ping"):
        cache.ping()
    nonce = uuid.uuid4().hex
    cache.set("readyz:probe", nonce, 10)
    if cache.get("readyz:probe") != nonce:
        raise RuntimeError("cache did not return what was written")
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


async def _check_channel_layer() -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    nonce = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.probe", "nonce": nonce})
    message = await layer.receive(channel)
    if message.get("nonce") != nonce:
        raise RuntimeError("channel layer returned another message")
    return layer.__class__.__name__


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "embedded (tasks run in-process)"
    from digis.celery import app

    # kombu's Redis channel pings the server when it is created.
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        conn.default_channel
        return conn.as_uri()  # the password, if any, is masked


async def _run(name: str, check) -> tuple[str, dict]:
    started = time.perf_counter()
    try:
        if asyncio.iscoroutinefunction(check):
            detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        else:
            # The database check must run on Django's thread for this request
            # (connections are per thread); the others may take any thread.
            thread_sensitive = check is _check_database
            detail = await asyncio.wait_for(sync_to_async(check, thread_sensitive=thread_sensitive)(), CHECK_TIMEOUT_S)
        result = {"ok": True, "detail": detail}
    except Exception as exc:  # the point of a probe is to report any failure
        result = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300] or exc.__class__.__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return name, result


@never_cache
async def readyz(request):
    """Readiness: 200 when database, cache, channel layer and broker all answer; 503 naming what failed."""
    checks = {
        "database": _check_database,
        "cache": _check_cache,
        "channel_layer": _check_channel_layer,
        "broker": _check_broker,
    }
    results = dict(await asyncio.gather(*(_run(name, check) for name, check in checks.items())))
    failed = sorted(name for name, result in results.items() if not result["ok"])
    body = {"status": "ok" if not failed else "unavailable", "failed": failed, "checks": results}
    # Informational, never a failure: a stopped beat must not take every web
    # node out of rotation, but an operator should see it (the call sweeper
    # and earnings releases run from beat).
    if results["cache"]["ok"]:
        body["beat_last_run"] = await sync_to_async(cache.get)("beat:last_run")
    return JsonResponse(body, status=200 if not failed else 503)
