"""Whole calls through the real /ws/ socket: two clients, controlled time, the real ledger.

Both parties connect with their session cookie; joins and heartbeats travel
as socket events, the server's events come back the same way. Time is moved
by time-machine between heartbeats; nothing sleeps.
"""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from accounts.tests.factories import make_creator, make_user
from calls import services
from calls.models import CallSession
from calls.tests.conftest import START, balance, fund, make_call_creator
from digis.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _cookie(user) -> bytes:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


class Party:
    """One browser tab: sends events, waits for a given event type, keeps the rest."""

    def __init__(self, communicator):
        self.ws = communicator
        self.seen = []

    @classmethod
    async def connect(cls, user):
        cookie = await database_sync_to_async(_cookie)(user)
        ws = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
        connected, _ = await ws.connect()
        assert connected
        party = cls(ws)
        assert (await party.expect("hello"))["type"] == "hello"
        return party

    async def expect(self, event_type, timeout=5):
        for index, event in enumerate(self.seen):
            if event["type"] == event_type:
                return self.seen.pop(index)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            event = await self.ws.receive_json_from(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
            if event["type"] == event_type:
                return event
            assert event["type"] != "error", event
            self.seen.append(event)

    async def send(self, event_type, call_id, **extra):
        ref = f"{event_type}:{len(self.seen)}:{id(extra)}"
        await self.ws.send_json_to({"type": event_type, "call_id": str(call_id), "ref": ref, **extra})
        while True:
            reply = await self.ws.receive_json_from(timeout=5)
            if reply.get("ref") == ref:
                return reply
            self.seen.append(reply)

    def saw(self, event_type):
        return [event for event in self.seen if event["type"] == event_type]


@pytest.fixture
def traveller():
    import time_machine

    with time_machine.travel(START, tick=False) as t:
        yield t


def at(traveller, seconds):
    traveller.move_to(START + timedelta(seconds=seconds))


async def _setup(tokens=1000, rate=10):
    def build():
        alice = make_user("alice")
        bob = make_creator("bob")
        fund(alice, tokens)
        make_call_creator(bob, video_call_rate=rate)
        return alice, bob

    alice, bob = await database_sync_to_async(build)()
    fan, creator = await Party.connect(alice), await Party.connect(bob)
    return alice, bob, fan, creator


async def _connect_call(alice, bob, fan, creator):
    call = await database_sync_to_async(services.request_call)(fan=alice, creator="bob", kind="video")
    ringing = await creator.expect("call.ringing")
    assert (ringing["call_id"], ringing["fan"]["username"], ringing["kind"], ringing["rate"]) == (str(call.pk), "alice", "video", call.rate)
    await database_sync_to_async(services.accept_call)(call_id=call.pk, user=bob)
    assert (await fan.expect("call.accepted"))["media"]["call_id"] == str(call.pk)
    await creator.expect("call.accepted")
    assert (await fan.send("call.join", call.pk))["call"]["status"] == "accepted"
    assert (await creator.send("call.join", call.pk))["call"]["status"] == "active"
    active = await fan.expect("call.active")
    await creator.expect("call.active")
    return call, active


async def _talk(call, parties, traveller, *, start, until, step=10):
    t = start
    while t + step <= until:
        t += step
        at(traveller, t)
        for party in parties:
            reply = await party.send("call.heartbeat", call.pk)
            assert reply["type"] == "call.state", reply
    at(traveller, until)


async def _hang_up(call, user):
    return await database_sync_to_async(services.end_call)(call_id=call.pk, user=user)


@pytest.mark.parametrize("seconds, paid", [(60, 10), (150, 25), (600, 100)])
async def test_whole_call_charges_exactly(traveller, seconds, paid):
    alice, bob, fan, creator = await _setup()
    call, active = await _connect_call(alice, bob, fan, creator)
    assert active["rate"] == 10 and active["covered_seconds"] == 60 + 99 * 60  # prepaid minute + 990 tokens
    await _talk(call, [fan, creator], traveller, start=0, until=seconds)
    await _hang_up(call, alice)
    for party in (fan, creator):
        ended = await party.expect("call.ended")
        receipt = ended["receipt"]
        assert ended["reason"] == "completed"
        assert (receipt["active_seconds"], receipt["tokens_paid"]) == (seconds, paid)
        assert receipt["tokens_charged"] - receipt["tokens_refunded"] == paid
        assert receipt["creator_earnings"] + receipt["platform_fee"] == paid
    assert await database_sync_to_async(balance)(alice) == 1000 - paid
    await fan.ws.disconnect()
    await creator.ws.disconnect()


async def test_call_under_ten_seconds_is_refunded_in_full(traveller):
    alice, bob, fan, creator = await _setup()
    call, _ = await _connect_call(alice, bob, fan, creator)
    assert await database_sync_to_async(balance)(alice) == 990  # the first minute is taken ahead
    at(traveller, 8)
    await _hang_up(call, bob)
    receipt = (await fan.expect("call.ended"))["receipt"]
    assert (receipt["tokens_charged"], receipt["tokens_refunded"], receipt["tokens_paid"]) == (10, 10, 0)
    assert await database_sync_to_async(balance)(alice) == 1000
    await fan.ws.disconnect()
    await creator.ws.disconnect()


async def test_drop_and_rejoin_resumes_and_bills_only_time_together(traveller):
    alice, bob, fan, creator = await _setup()
    call, _ = await _connect_call(alice, bob, fan, creator)
    await _talk(call, [fan, creator], traveller, start=0, until=30)
    # bob goes silent after 30 s; alice keeps beating. At 60 s the sweeper sees him absent.
    await _talk(call, [fan], traveller, start=30, until=60)
    assert await database_sync_to_async(services.advance_call)(call_id=call.pk)
    paused = await fan.expect("call.paused")
    assert paused["absent"] == [str(bob.pk)] and paused["since"].startswith("2026-03-01T12:00:30")
    # bob is back at 70 s, within the minute.
    at(traveller, 70)
    assert (await creator.send("call.join", call.pk))["call"]["status"] == "active"
    await fan.expect("call.resumed")
    await _talk(call, [fan, creator], traveller, start=70, until=130)
    await _hang_up(call, alice)
    receipt = (await creator.expect("call.ended"))["receipt"]
    assert receipt["active_seconds"] == 30 + 60  # 0-30 and 70-130
    assert receipt["tokens_paid"] == 15
    assert await database_sync_to_async(balance)(alice) == 985
    await fan.ws.disconnect()
    await creator.ws.disconnect()


async def test_drop_without_rejoin_ends_as_dropped(traveller):
    alice, bob, fan, creator = await _setup()
    call, _ = await _connect_call(alice, bob, fan, creator)
    await _talk(call, [fan, creator], traveller, start=0, until=40)
    await _talk(call, [fan], traveller, start=40, until=90)  # alice alone; bob is gone
    at(traveller, 135)  # the sweeper comes by late
    from calls.tasks import sweep_calls

    await database_sync_to_async(sweep_calls)()
    ended = await fan.expect("call.ended")
    assert ended["reason"] == "dropped"
    assert (ended["receipt"]["active_seconds"], ended["receipt"]["tokens_paid"]) == (40, 7)  # ceil(40 x 10 / 60)
    stored = await database_sync_to_async(CallSession.objects.get)(pk=call.pk)
    assert stored.ended_at == START + timedelta(seconds=100)
    assert await database_sync_to_async(balance)(alice) == 993
    await fan.ws.disconnect()
    await creator.ws.disconnect()


async def test_running_out_of_tokens_warns_then_ends_at_the_boundary(traveller):
    alice, bob, fan, creator = await _setup(tokens=25)
    call, active = await _connect_call(alice, bob, fan, creator)
    assert active["covered_seconds"] == 60 + 60  # 15 left after the first minute: one more minute
    await _talk(call, [fan, creator], traveller, start=0, until=60)
    # Minute two was charged at 60 s; 5 tokens cannot pay minute three.
    warning = await fan.expect("call.low_balance")
    assert warning["seconds_left"] == 60 and warning["buy_url"]
    assert not creator.saw("call.low_balance")
    # A late heartbeat at 125 s: the call ended at 120 s, the boundary, not now.
    await _talk(call, [fan, creator], traveller, start=60, until=110)
    at(traveller, 125)
    await fan.send("call.heartbeat", call.pk)
    ended = await creator.expect("call.ended")
    assert ended["reason"] == "insufficient_funds"
    assert (ended["receipt"]["active_seconds"], ended["receipt"]["tokens_paid"], ended["receipt"]["tokens_refunded"]) == (120, 20, 0)
    stored = await database_sync_to_async(CallSession.objects.get)(pk=call.pk)
    assert stored.ended_at == START + timedelta(seconds=120)
    assert await database_sync_to_async(balance)(alice) == 5
    await fan.ws.disconnect()
    await creator.ws.disconnect()


async def test_socket_refuses_strangers_and_ended_calls(traveller):
    alice, bob, fan, creator = await _setup()
    mallory = await database_sync_to_async(make_user)("mallory")
    intruder = await Party.connect(mallory)
    call, _ = await _connect_call(alice, bob, fan, creator)
    reply = await intruder.send("call.heartbeat", call.pk)
    assert (reply["type"], reply["code"]) == ("error", "call_not_found")
    reply = await intruder.send("call.join", "not-a-uuid")
    assert (reply["type"], reply["code"]) == ("error", "invalid_id")
    at(traveller, 30)
    await _hang_up(call, alice)
    reply = await fan.send("call.join", call.pk)
    assert (reply["type"], reply["code"]) == ("error", "call_not_live")
    for party in (fan, creator, intruder):
        await party.ws.disconnect()
