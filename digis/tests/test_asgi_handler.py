"""ReusedThreadASGIHandler: requests reuse threads and leave nothing behind on them.

Requests go through the real ASGI handler with the full middleware stack
(as daphne drives it), against throwaway views in this module.
"""

import asyncio
import inspect
import json
import threading
import zoneinfo

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone, translation

from digis.asgi_handler import ReusedThreadASGIHandler

# What the views saw, for the assertions: thread objects and DB wrappers by request label.
seen: dict[str, dict] = {}
view_started = threading.Event()
view_release = threading.Event()


def _remember(label):
    # connections[alias] is this thread's own wrapper (`connection` is a proxy).
    seen[label] = {"thread": threading.current_thread(), "db": connections[DEFAULT_DB_ALIAS]}


def _report(request, label):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    _remember(label)
    return JsonResponse(
        {
            "thread": threading.get_ident(),
            "thread_name": threading.current_thread().name,
            "language": translation.get_language(),
            "timezone": timezone.get_current_timezone_name(),
        }
    )


def whoami(request):
    return _report(request, request.GET.get("label", "whoami"))


def activate(request):
    translation.activate("de")
    timezone.activate(zoneinfo.ZoneInfo("Asia/Tokyo"))
    return _report(request, "activate")


def boom(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    raise RuntimeError("the view failed")


def block(request):
    _remember("block")
    view_started.set()
    assert view_release.wait(10)
    return _report(request, "block")


async def async_view(request):
    # Like /readyz: an async view that reaches the database on the request's thread.
    label = await sync_to_async(lambda: _report(request, "async") and "async", thread_sensitive=True)()
    return JsonResponse({"label": label, "thread": seen["async"]["thread"].ident})


urlpatterns = [
    path("api/test/async/", async_view),
    path("api/test/whoami/", whoami),
    path("api/test/activate/", activate),
    path("api/test/boom/", boom),
    path("api/test/block/", block),
]
handler500 = "digis.views.handler500"  # the site's: JSON under /api/

pytestmark = [pytest.mark.urls("digis.tests.test_asgi_handler"), pytest.mark.django_db(transaction=True)]

HEADERS = [(b"host", b"testserver")]


@pytest.fixture
def handler():
    seen.clear()
    view_started.clear()
    view_release.clear()
    handler = ReusedThreadASGIHandler()
    yield handler
    view_release.set()
    handler.close_idle_threads()


async def get(handler, url):
    communicator = HttpCommunicator(handler, "GET", url, headers=HEADERS)
    response = await communicator.get_response(timeout=5)
    await communicator.wait(timeout=5)  # the request has fully ended, thread released
    return response


async def on_idle_thread(handler, fn):
    """Run fn on the thread the next request would get."""
    return await asyncio.wrap_future(handler._idle[-1].submit(fn))


def _request_scope(url):
    return {"type": "http", "http_version": "1.1", "method": "GET", "path": url, "query_string": b"", "headers": HEADERS}


async def _join(thread):
    await asyncio.to_thread(thread.join, 5)
    return not thread.is_alive()


def test_the_deployed_app_serves_http_with_the_reusing_handler():
    from digis.asgi import application

    assert isinstance(application.application_mapping["http"], ReusedThreadASGIHandler)


def test_djangos_call_is_still_the_one_we_override():
    # ReusedThreadASGIHandler.__call__ copies ASGIHandler.__call__ but for the
    # executor. If Django changes its version, re-read it and update ours.
    code = [
        line.strip()
        for line in inspect.getsource(ASGIHandler.__call__).splitlines()
        if line.strip() and not line.strip().startswith(("#", '"""', "Async entrypoint"))
    ]
    assert code == [
        "async def __call__(self, scope, receive, send):",
        'if scope["type"] != "http":',
        "raise ValueError(",
        '"Django can only handle ASGI/HTTP connections, not %s." % scope["type"]',
        ")",
        "async with ThreadSensitiveContext():",
        "await self.handle(scope, receive, send)",
    ]


def test_the_middleware_chain_is_built_sync(handler):
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)


@pytest.mark.asyncio
async def test_a_request_hops_to_its_thread_without_coming_back_to_the_loop_midway(handler, monkeypatch):
    # given a count of every sync -> async hop (Django's async chain made one
    # around URL resolution, then went back to the thread for the view)
    import asgiref.sync

    hops_back = []
    original = asgiref.sync.AsyncToSync.__call__

    def counting(self, *args, **kwargs):
        hops_back.append(self.awaitable)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync.AsyncToSync, "__call__", counting)

    # when a sync view is served through the whole middleware stack
    response = await get(handler, "/api/test/whoami/?label=one-hop")

    # then middleware and view ran on the request thread with no hop back
    assert response["status"] == 200
    assert b"x-request-id" in {name.lower() for name, _ in response["headers"]}  # our outermost middleware ran
    assert hops_back == []


@pytest.mark.asyncio
async def test_an_async_view_is_served_and_reaches_the_request_thread(handler):
    response = await get(handler, "/api/test/async/")

    assert response["status"] == 200
    body = json.loads(response["body"])
    assert body["label"] == "async"
    assert seen["async"]["thread"].name.startswith("asgi-request")
    assert handler.idle_threads == 1
    assert await on_idle_thread(handler, lambda: connection.connection is None)


@pytest.mark.asyncio
async def test_sequential_requests_reuse_one_thread_and_return_its_connection(handler):
    first = await get(handler, "/api/test/whoami/?label=first")
    second = await get(handler, "/api/test/whoami/?label=second")

    assert first["status"] == second["status"] == 200
    assert json.loads(first["body"])["thread"] == json.loads(second["body"])["thread"]
    assert json.loads(first["body"])["thread_name"].startswith("asgi-request")
    assert handler.idle_threads == 1
    # request_finished closed the thread's connection (returned it to the pool).
    assert await on_idle_thread(handler, lambda: connection.connection is None)


@pytest.mark.asyncio
async def test_concurrent_requests_get_threads_of_their_own(handler):
    blocked = ApplicationCommunicator(handler, _request_scope("/api/test/block/"))
    await blocked.send_input({"type": "http.request", "body": b""})
    await asyncio.to_thread(view_started.wait, 5)

    meanwhile = await get(handler, "/api/test/whoami/")
    view_release.set()
    await blocked.wait(timeout=5)

    assert json.loads(meanwhile["body"])["thread"] != seen["block"]["thread"].ident
    assert handler.idle_threads == 2


@pytest.mark.asyncio
async def test_threads_beyond_the_idle_bound_are_retired(handler):
    handler.max_idle_threads = 1
    blocked = ApplicationCommunicator(handler, _request_scope("/api/test/block/"))
    await blocked.send_input({"type": "http.request", "body": b""})
    await asyncio.to_thread(view_started.wait, 5)
    await get(handler, "/api/test/whoami/?label=meanwhile")
    view_release.set()
    await blocked.wait(timeout=5)

    assert handler.idle_threads == 1
    assert await _join(seen["block"]["thread"])  # the surplus thread exited
    assert seen["block"]["db"].connection is None  # ...after returning its connection


@pytest.mark.asyncio
async def test_translation_and_timezone_do_not_follow_the_thread(handler):
    activated = json.loads((await get(handler, "/api/test/activate/"))["body"])
    after = json.loads((await get(handler, "/api/test/whoami/"))["body"])

    assert (activated["language"], activated["timezone"]) == ("de", "Asia/Tokyo")
    assert after["thread"] == activated["thread"]
    assert (after["language"], after["timezone"]) == ("en-us", "UTC")


@pytest.mark.asyncio
async def test_a_raising_view_is_a_500_and_its_thread_is_reused_clean(handler):
    response = await get(handler, "/api/test/boom/")
    after = await get(handler, "/api/test/whoami/")

    assert response["status"] == 500
    assert json.loads(response["body"])["error"]["code"] == "server_error"
    assert after["status"] == 200
    assert handler.idle_threads == 1
    assert await on_idle_thread(handler, lambda: connection.connection is None)


@pytest.mark.asyncio
async def test_client_disconnect_mid_view_returns_the_thread_once_the_view_ends(handler):
    # given a view still running when the client goes away
    aborted = ApplicationCommunicator(handler, _request_scope("/api/test/block/"))
    await aborted.send_input({"type": "http.request", "body": b""})
    await asyncio.to_thread(view_started.wait, 5)
    await aborted.send_input({"type": "http.disconnect"})
    await asyncio.sleep(0.05)
    # when the view finishes (Django waits for request_finished on the same thread)
    view_release.set()
    await aborted.wait(timeout=5)

    # then nothing was sent, and the thread is back, clean, and serves the next request
    assert await aborted.receive_nothing()
    assert handler.idle_threads == 1
    assert await on_idle_thread(handler, lambda: connection.connection is None)
    after = json.loads((await get(handler, "/api/test/whoami/"))["body"])
    assert after["thread"] == seen["block"]["thread"].ident


@pytest.mark.asyncio
async def test_disconnect_before_the_body_arrives_returns_the_thread(handler):
    aborted = ApplicationCommunicator(handler, _request_scope("/api/test/whoami/"))
    await aborted.send_input({"type": "http.disconnect"})
    await aborted.wait(timeout=5)

    assert handler.idle_threads == 1


@pytest.mark.asyncio
async def test_a_cancelled_request_keeps_its_thread_until_its_view_ends(handler):
    # given a disconnected request whose view outlives the server's patience
    # (daphne cancels the application after application_close_timeout)
    stuck = ApplicationCommunicator(handler, _request_scope("/api/test/block/"))
    await stuck.send_input({"type": "http.request", "body": b""})
    await asyncio.to_thread(view_started.wait, 5)
    await stuck.send_input({"type": "http.disconnect"})
    cancelling = asyncio.create_task(stuck.wait(timeout=0.1))  # cancels the application
    await asyncio.sleep(0.3)

    # then no other request is given that thread while the view runs
    meanwhile = json.loads((await get(handler, "/api/test/whoami/"))["body"])
    assert meanwhile["thread"] != seen["block"]["thread"].ident

    # and once the view ends, its thread (retired: the chain runs in one
    # sync call, which asgiref abandons on cancellation) returns its
    # connection and exits; the other is back on the stack
    view_release.set()
    await cancelling
    assert await _join(seen["block"]["thread"])
    assert seen["block"]["db"].connection is None
    assert handler.idle_threads == 1


class _BlockingHandle(ReusedThreadASGIHandler):
    """Gives up on a running sync call when cancelled, as asgiref's
    sync_to_async does when no async code is nested under it."""

    async def handle(self, scope, receive, send):
        await sync_to_async(block)(None)


@pytest.mark.asyncio
async def test_a_request_cancelled_while_its_thread_is_busy_retires_the_thread():
    seen.clear()
    view_started.clear()
    view_release.clear()
    handler = _BlockingHandle()
    try:
        # given a request cancelled while its sync call still runs
        stuck = ApplicationCommunicator(handler, _request_scope("/api/test/block/"))
        await stuck.send_input({"type": "http.request", "body": b""})
        await asyncio.to_thread(view_started.wait, 5)
        await stuck.wait(timeout=0.1)
        assert stuck.future.cancelled()

        # then the busy thread is not offered to the next request
        assert handler.idle_threads == 0

        # and once the call ends, the thread returns its connection and exits
        view_release.set()
        assert await _join(seen["block"]["thread"])
        assert seen["block"]["db"].connection is None
    finally:
        view_release.set()
        handler.close_idle_threads()


@pytest.mark.asyncio
async def test_an_error_escaping_the_handler_retires_the_thread(handler):
    # A second request message where only a disconnect may come makes
    # Django's handler raise AssertionError out of __call__.
    broken = ApplicationCommunicator(handler, _request_scope("/api/test/whoami/"))
    await broken.send_input({"type": "http.request", "body": b""})
    await broken.send_input({"type": "http.request", "body": b""})
    with pytest.raises(AssertionError):
        await broken.wait(timeout=5)

    assert handler.idle_threads == 0
    assert (await get(handler, "/api/test/whoami/"))["status"] == 200
