"""Notifications fixtures: VAPID keys, the loopback push service, eager tasks, socket listeners."""

import asyncio
import threading

import pytest
from channels.layers import get_channel_layer

from notifications.push_service import PushServiceStandIn
from notifications.webpush import generate_vapid_keys


@pytest.fixture
def vapid(settings):
    """Web push configured with a fresh key pair; loopback endpoints admitted (the stand-in)."""
    public, private = generate_vapid_keys()
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_SUBJECT = "mailto:ops@digis.test"
    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = True
    return public


@pytest.fixture
def push_service(vapid):
    with PushServiceStandIn(vapid_public_key=vapid) as service:
        yield service


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process when queued (as the embedded default does), errors propagating."""
    from digis.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


class SocketListener:
    """Joins a user's socket group on the channel layer, as one open tab would.

    Every receive runs on the listener's own event loop (in a thread): the
    channel layer's receive buffers belong to the loop that first used them.
    """

    def __init__(self, user):
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="socket-listener", daemon=True)
        self.thread.start()
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(f"user.{user.pk}", self.channel))

    def _run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def events(self, *, wait: float = 0.3) -> list[dict]:
        async def drain():
            found = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=wait)
                except asyncio.TimeoutError:
                    return found
                if message.get("type") == "realtime.event":
                    found.append(message["event"])

        return self._run(drain())

    def of_type(self, event_type: str, **kwargs) -> list[dict]:
        return [event for event in self.events(**kwargs) if event["type"] == event_type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def listen():
    opened = []

    def open_tab(user):
        listener = SocketListener(user)
        opened.append(listener)
        return listener

    yield open_tab
    for listener in opened:
        listener.close()
