"""call.signal: relayed between the two parties of a connected call, and to nobody else."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

import calls.signalling  # noqa: F401  (registers the handler, as the app does at start-up)
from accounts.tests.factories import make_creator, make_user
from calls.models import CallSession
from digis.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
OFFER = {"kind": "offer", "sdp": "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\n", "session": "a1"}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _session_cookie(user) -> bytes:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def connect(user) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(_session_cookie)(user)
    communicator = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


@database_sync_to_async
def people():
    return make_user("alice"), make_creator("bob"), make_user("mallory")


@database_sync_to_async
def make_call(fan, creator, *, status="accepted"):
    fields = {"end_reason": "completed"} if status == "ended" else {}
    # Test arrangement only: the calls core's services own every real write.
    return CallSession.objects.create(fan=fan, creator=creator, kind="video", rate=30, status=status, **fields)


async def signal(communicator, call_id, data, ref=None):
    event = {"type": "call.signal", "call_id": str(call_id), "data": data}
    if ref is not None:
        event["ref"] = ref
    await communicator.send_json_to(event)


async def test_offer_and_answer_reach_only_the_other_party():
    alice, bob, _ = await people()
    call = await make_call(alice, bob)
    fan, creator = await connect(alice), await connect(bob)

    await signal(fan, call.id, OFFER)
    relayed = await creator.receive_json_from(timeout=2)
    assert relayed == {"type": "call.signal", "call_id": str(call.id), "from": str(alice.pk), "data": OFFER}
    assert await fan.receive_nothing(timeout=0.2)  # no echo to the sender

    answer = {"kind": "answer", "sdp": "v=0\r\n", "session": "b1", "to": "a1"}
    await signal(creator, call.id, answer)
    assert await fan.receive_json_from(timeout=2) == {"type": "call.signal", "call_id": str(call.id), "from": str(bob.pk), "data": answer}

    ice = {"kind": "ice", "candidate": {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0"}, "session": "a1"}
    await signal(fan, call.id, ice)
    assert (await creator.receive_json_from(timeout=2))["data"] == ice
    await fan.disconnect()
    await creator.disconnect()


async def test_relay_reaches_every_open_tab_of_the_other_party():
    alice, bob, _ = await people()
    call = await make_call(alice, bob, status="active")
    fan, creator_tab_1, creator_tab_2 = await connect(alice), await connect(bob), await connect(bob)

    await signal(fan, call.id, {"kind": "hello", "session": "a1"})
    for tab in (creator_tab_1, creator_tab_2):
        assert (await tab.receive_json_from(timeout=2))["data"] == {"kind": "hello", "session": "a1"}
    for communicator in (fan, creator_tab_1, creator_tab_2):
        await communicator.disconnect()


async def test_mallory_cannot_inject_into_someone_elses_call():
    alice, bob, mallory = await people()
    call = await make_call(alice, bob)
    fan, creator, intruder = await connect(alice), await connect(bob), await connect(mallory)

    await signal(intruder, call.id, OFFER, ref=1)
    error = await intruder.receive_json_from(timeout=2)
    assert (error["type"], error["code"], error["ref"]) == ("error", "call_not_found", 1)
    assert await fan.receive_nothing(timeout=0.2)
    assert await creator.receive_nothing(timeout=0.2)

    # A call that does not exist answers exactly the same: nothing to probe.
    await signal(intruder, "00000000-0000-4000-8000-000000000000", OFFER, ref=2)
    missing = await intruder.receive_json_from(timeout=2)
    assert (missing["code"], missing["message"]) == (error["code"], error["message"])
    for communicator in (fan, creator, intruder):
        await communicator.disconnect()


async def test_paused_calls_still_relay_so_a_dropped_party_can_reconnect():
    alice, bob, _ = await people()
    call = await make_call(alice, bob, status="paused")
    fan, creator = await connect(alice), await connect(bob)
    await signal(creator, call.id, {"kind": "hello", "session": "b2"})
    assert (await fan.receive_json_from(timeout=2))["from"] == str(bob.pk)
    await fan.disconnect()
    await creator.disconnect()


@pytest.mark.parametrize("status", ["requested", "ended"])
async def test_no_relay_while_ringing_or_after_the_end(status):
    alice, bob, _ = await people()
    call = await make_call(alice, bob, status=status)
    fan, creator = await connect(alice), await connect(bob)

    await signal(fan, call.id, OFFER)
    error = await fan.receive_json_from(timeout=2)
    assert (error["type"], error["code"], error["status"]) == ("error", "call_not_live", status)
    assert await creator.receive_nothing(timeout=0.2)
    await fan.disconnect()
    await creator.disconnect()


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"type": "call.signal", "data": OFFER}, "invalid_signal"),
        ({"type": "call.signal", "call_id": "not-a-uuid", "data": OFFER}, "invalid_signal"),
        ({"type": "call.signal", "call_id": "CALL", "data": "offer"}, "invalid_signal"),
        ({"type": "call.signal", "call_id": "CALL", "data": ["offer"]}, "invalid_signal"),
        ({"type": "call.signal", "call_id": "CALL", "data": {"sdp": "v=0"}}, "invalid_signal"),
        ({"type": "call.signal", "call_id": "CALL", "data": {"kind": "ring-everyone"}}, "invalid_signal"),
        ({"type": "call.signal", "call_id": "CALL", "data": {"kind": "offer", "sdp": "x" * 40_000}}, "signal_too_large"),
    ],
)
async def test_malformed_signals_get_a_code_and_go_nowhere(event, code):
    alice, bob, _ = await people()
    call = await make_call(alice, bob)
    fan, creator = await connect(alice), await connect(bob)

    if event.get("call_id") == "CALL":
        event = {**event, "call_id": str(call.id)}
    await fan.send_json_to(event)
    error = await fan.receive_json_from(timeout=2)
    assert (error["type"], error["code"]) == ("error", code)
    assert await creator.receive_nothing(timeout=0.2)
    await fan.disconnect()
    await creator.disconnect()


async def test_a_signal_flood_is_cut_off(settings):
    settings.CALL_SIGNAL_RATE = (3, 10)
    alice, bob, _ = await people()
    call = await make_call(alice, bob)
    fan, creator = await connect(alice), await connect(bob)

    for n in range(3):
        await signal(fan, call.id, {"kind": "ice", "candidate": None, "n": n})
        assert (await creator.receive_json_from(timeout=2))["data"]["n"] == n
    await signal(fan, call.id, {"kind": "ice", "candidate": None, "n": 3})
    error = await fan.receive_json_from(timeout=2)
    assert (error["code"], error["retry_after_s"]) == ("signal_rate_limited", 10)
    assert await creator.receive_nothing(timeout=0.2)
    # The other party has their own allowance.
    await signal(creator, call.id, {"kind": "ice", "candidate": None})
    assert (await fan.receive_json_from(timeout=2))["type"] == "call.signal"
    await fan.disconnect()
    await creator.disconnect()
