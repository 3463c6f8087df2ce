"""Messaging through the real /ws/ socket: two clients talking live, typing, receipts,
reconnect catch-up, and mallory refused everything."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from accounts.tests.factories import make_creator, make_user
from digis.asgi import application
from messaging.tests.factories import fund, make_messaging_creator, open_between

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _cookie(user) -> bytes:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


class Tab:
    """One browser tab's socket: send events, wait for one type, keep the others."""

    def __init__(self, ws):
        self.ws = ws
        self.seen = []
        self.refs = 0

    @classmethod
    async def open(cls, user):
        cookie = await database_sync_to_async(_cookie)(user)
        ws = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
        connected, _ = await ws.connect()
        assert connected
        tab = cls(ws)
        await tab.expect("hello")
        return tab

    async def expect(self, event_type, *, timeout=5, where=lambda event: True):
        for index, event in enumerate(self.seen):
            if event["type"] == event_type and where(event):
                return self.seen.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
            if event["type"] == event_type and where(event):
                return event
            self.seen.append(event)

    async def request(self, event_type, **payload):
        self.refs += 1
        ref = f"{event_type}:{self.refs}"
        await self.ws.send_json_to({"type": event_type, "ref": ref, **payload})
        return await self.expect_ref(ref)

    async def expect_ref(self, ref, timeout=5):
        for index, event in enumerate(self.seen):
            if event.get("ref") == ref:
                return self.seen.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
            if event.get("ref") == ref:
                return event
            self.seen.append(event)

    async def nothing_more(self):
        assert await self.ws.receive_nothing(timeout=0.3), self.ws

    async def close(self):
        await self.ws.disconnect()


async def _setup(price=10, tokens=1000):
    def build():
        alice = make_user("alice")
        bob = make_creator("bob")
        make_messaging_creator(bob, price=price)
        fund(alice, tokens)
        return alice, bob, open_between(alice, bob)

    return await database_sync_to_async(build)()


async def test_two_clients_exchange_messages_live_and_the_reply_releases_the_hold():
    alice, bob, conversation = await _setup()
    fan, creator = await Tab.open(alice), await Tab.open(bob)
    # alice writes over her socket
    sent = await fan.request("messages.send", conversation_id=str(conversation.pk), client_message_id="c-1", text="Hi <b>Bob</b>")
    assert sent["type"] == "messages.sent" and sent["created"] is True
    assert (sent["message"]["escrow_state"], sent["message"]["price"]) == ("held", 10)
    # bob sees it live, as text
    arrived = await creator.expect("message.new")
    assert arrived["message"]["text"] == "Hi <b>Bob</b>" and arrived["message"]["mine"] is False
    assert arrived["message"]["client_message_id"] is None  # alice's own id stays hers
    assert (await fan.expect("wallet.updated"))["balance"] == 990
    # bob answers; alice sees the answer and her message turn "answered"
    await creator.request("messages.send", conversation_id=str(conversation.pk), client_message_id="c-2", text="Hello!")
    answer = await fan.expect("message.new", where=lambda e: e["message"]["text"] == "Hello!")
    assert answer["prev_id"] == sent["message"]["id"]
    updated = await fan.expect("message.updated")
    assert (updated["message"]["id"], updated["message"]["escrow_state"]) == (sent["message"]["id"], "released")
    await fan.close()
    await creator.close()


async def test_typing_reaches_the_other_person_only_and_is_not_stored():
    alice, bob, conversation = await _setup()
    mallory = await database_sync_to_async(make_user)("mallory")
    fan, creator, outsider = await Tab.open(alice), await Tab.open(bob), await Tab.open(mallory)
    await fan.ws.send_json_to({"type": "messages.typing", "conversation_id": str(conversation.pk), "state": "start"})
    typing = await creator.expect("message.typing")
    assert (typing["state"], typing["user_id"], typing["expires_in_s"]) == ("start", str(alice.pk), 45)
    await fan.ws.send_json_to({"type": "messages.typing", "conversation_id": str(conversation.pk), "state": "stop"})
    assert (await creator.expect("message.typing"))["state"] == "stop"
    await outsider.nothing_more()
    for tab in (fan, creator, outsider):
        await tab.close()


async def test_typing_stops_reaching_someone_who_blocks_you_mid_conversation():
    """The socket remembers whom a thread's typing goes to; a block made after
    that (by either person) must still stop it at once."""
    from accounts.services import block_user

    alice, bob, conversation = await _setup()
    fan, creator = await Tab.open(alice), await Tab.open(bob)
    await fan.ws.send_json_to({"type": "messages.typing", "conversation_id": str(conversation.pk), "state": "start"})
    assert (await creator.expect("message.typing"))["state"] == "start"
    await database_sync_to_async(block_user)(blocker=bob, blocked=alice)
    reply = await fan.request("messages.typing", conversation_id=str(conversation.pk), state="start")
    assert (reply["type"], reply["code"]) == ("error", "conversation_not_found")
    reply = await fan.request("messages.typing", conversation_id=str(conversation.pk), state="stop")  # and it stays refused
    assert (reply["type"], reply["code"]) == ("error", "conversation_not_found")
    await creator.nothing_more()
    for tab in (fan, creator):
        await tab.close()


async def test_reconnect_catch_up_is_exact_and_in_order():
    alice, bob, conversation = await _setup(price=0)
    fan = await Tab.open(alice)
    first = await fan.request("messages.send", conversation_id=str(conversation.pk), client_message_id="a-1", text="one")
    last_seen = first["message"]["id"]
    # alice's tab goes away; bob writes three times and alice's other conversation moves on too
    await fan.close()

    def meanwhile():
        from messaging.tests.factories import send

        carol = make_creator("carol")
        make_messaging_creator(carol, price=0)
        other = open_between(alice, carol)
        return [send(bob, conversation, "two").pk, send(carol, other, "three").pk, send(bob, conversation, "four").pk]

    missed = await database_sync_to_async(meanwhile)()
    # when she reconnects and asks for everything after what she saw
    fan = await Tab.open(alice)
    synced = await fan.request("messages.sync", after=last_seen)
    # then exactly those, in order, nothing more
    assert [m["id"] for m in synced["messages"]] == missed
    assert [m["text"] for m in synced["messages"]] == ["two", "three", "four"]
    assert (synced["last_id"], synced["has_more"]) == (missed[-1], False)
    assert (await fan.request("messages.sync", after=missed[-1]))["messages"] == []
    await fan.close()


async def test_sync_pages_through_a_long_absence(monkeypatch):
    from messaging import selectors

    monkeypatch.setattr(selectors, "SYNC_PAGE_SIZE", 2)
    alice, bob, conversation = await _setup(price=0)

    def write():
        from messaging.tests.factories import send

        return [send(bob, conversation, str(n)).pk for n in range(5)]

    ids = await database_sync_to_async(write)()
    fan = await Tab.open(alice)
    got, after = [], 0
    while True:
        page = await fan.request("messages.sync", after=after)
        got += [m["id"] for m in page["messages"]]
        after = page["last_id"]
        if not page["has_more"]:
            break
    assert got == ids
    await fan.close()


async def test_read_receipts_over_the_socket():
    alice, bob, conversation = await _setup(price=0)
    fan, creator = await Tab.open(alice), await Tab.open(bob)
    sent = await fan.request("messages.send", conversation_id=str(conversation.pk), client_message_id="r-1", text="read me")
    await creator.expect("message.new")
    ok = await creator.request("messages.read", conversation_id=str(conversation.pk))
    assert (ok["type"], ok["read_id"]) == ("messages.read_ok", sent["message"]["id"])
    receipt = await fan.expect("message.read")
    assert (receipt["reader_id"], receipt["read_id"]) == (str(bob.pk), sent["message"]["id"])
    await fan.close()
    await creator.close()


async def test_a_paid_message_the_fan_cannot_afford_is_refused_over_the_socket():
    alice, bob, conversation = await _setup(price=50, tokens=20)
    fan = await Tab.open(alice)
    refused = await fan.request("messages.send", conversation_id=str(conversation.pk), client_message_id="p-1", text="hi")
    assert (refused["type"], refused["code"], refused["shortfall"], refused["price"]) == ("error", "insufficient_funds", 30, 50)
    await fan.close()


async def test_mallory_cannot_send_read_type_or_view_someone_elses_conversation():
    alice, bob, conversation = await _setup()
    mallory = await database_sync_to_async(make_user)("mallory")
    intruder = await Tab.open(mallory)
    for event_type, payload in [
        ("messages.send", {"client_message_id": "m-1", "text": "let me in"}),
        ("messages.read", {}),
        ("messages.typing", {"state": "start"}),
        ("messages.viewing", {}),
    ]:
        reply = await intruder.request(event_type, conversation_id=str(conversation.pk), **payload)
        assert (reply["type"], reply["code"]) == ("error", "conversation_not_found"), event_type
    synced = await intruder.request("messages.sync", after=0)
    assert synced["messages"] == []
    for bad in [{"conversation_id": "nope"}, {"conversation_id": 5}, {}]:
        reply = await intruder.request("messages.read", **bad)
        assert reply["type"] == "error" and reply["code"] in ("invalid_id", "invalid"), reply
    reply = await intruder.request("messages.sync", after="x")
    assert reply["type"] == "error"
    await intruder.close()

    def nothing_changed():
        from messaging.models import Message

        return Message.objects.count()

    assert await database_sync_to_async(nothing_changed)() == 0


async def test_the_thread_on_screen_holds_its_alerts_back_until_the_page_leaves_it():
    from notifications.services import is_viewing

    alice, bob, conversation = await _setup(price=0)
    creator = await Tab.open(bob)
    await creator.request("messages.viewing", conversation_id=str(conversation.pk))
    assert await database_sync_to_async(is_viewing)(user_id=bob.pk, thread=str(conversation.pk))

    def write(text):
        from messaging.tests.factories import send
        from notifications.models import Notification

        send(alice, conversation, text)
        return Notification.objects.filter(recipient=bob).order_by("-created_at").values_list("data", "read_at").first()

    data, read_at = await database_sync_to_async(write)("are you there?")
    assert data["thread"] == str(conversation.pk) and read_at is not None  # stored read, nothing pushed
    await creator.expect("message.new")
    await creator.request("messages.viewing", conversation_id=None)
    assert not await database_sync_to_async(is_viewing)(user_id=bob.pk, thread=str(conversation.pk))
    _, read_at = await database_sync_to_async(write)("hello?")
    assert read_at is None
    assert (await creator.expect("notification.new"))["notification"]["data"]["thread"] == str(conversation.pk)
    await creator.close()
