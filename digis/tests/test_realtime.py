"""The /ws/ socket: authentication, origin checks, dispatch and after-commit delivery."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from contextlib import closing

from django.db import close_old_connections, connection, transaction

from accounts.tests.factories import make_user
from digis.asgi import application
from digis.errors import Conflict
from digis.realtime import presence
from digis.realtime.events import send_event_on_commit
from digis.realtime.registry import on

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@on("test.echo")
def _echo(*, user, payload, consumer):
    if payload.get("fail"):
        raise Conflict("Already ringing.", code="already_ringing")
    return {"type": "test.echoed", "text": payload.get("text"), "user": user.username}


def _session_cookie(user) -> bytes:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _connect(headers, subprotocols=None):
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers, subprotocols=subprotocols)
    connected, _ = await communicator.connect()
    return communicator, connected


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_unauthenticated_socket_is_refused():
    communicator, connected = await _connect([ORIGIN])
    assert connected is False
    await communicator.disconnect()


async def test_foreign_origin_is_refused_even_with_a_session():
    alice = await database_sync_to_async(make_user)("alice")
    cookie = await database_sync_to_async(_session_cookie)(alice)
    communicator, connected = await _connect([(b"origin", b"https://evil.example"), (b"cookie", cookie)])
    assert connected is False
    await communicator.disconnect()


async def test_session_socket_says_hello_and_marks_presence():
    alice = await database_sync_to_async(make_user)("alice")
    cookie = await database_sync_to_async(_session_cookie)(alice)
    communicator, connected = await _connect([ORIGIN, (b"cookie", cookie)])
    assert connected
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello" and hello["user_id"] == str(alice.pk)
    assert await sync_to_async(presence.is_online)(alice.pk)
    await communicator.disconnect()
    assert not await sync_to_async(presence.is_online)(alice.pk)


async def test_bearer_token_via_subprotocol():
    from rest_framework_simplejwt.tokens import AccessToken

    alice = await database_sync_to_async(make_user)("alice")
    token = str(AccessToken.for_user(alice))
    communicator, connected = await _connect([ORIGIN], subprotocols=["digis.bearer", token])
    assert connected
    assert (await communicator.receive_json_from())["user_id"] == str(alice.pk)
    await communicator.disconnect()

    forged, connected = await _connect([ORIGIN], subprotocols=["digis.bearer", token[:-4] + "AAAA"])
    assert connected is False
    await forged.disconnect()


async def test_client_events_dispatch_to_registered_handlers():
    alice = await database_sync_to_async(make_user)("alice")
    cookie = await database_sync_to_async(_session_cookie)(alice)
    communicator, _ = await _connect([ORIGIN, (b"cookie", cookie)])
    await communicator.receive_json_from()  # hello

    await communicator.send_json_to({"type": "test.echo", "text": "hi", "ref": 7})
    assert await communicator.receive_json_from() == {"type": "test.echoed", "text": "hi", "user": "alice", "ref": 7}

    await communicator.send_json_to({"type": "test.echo", "fail": True, "ref": 8})
    error = await communicator.receive_json_from()
    assert (error["type"], error["code"], error["ref"]) == ("error", "already_ringing", 8)

    await communicator.send_json_to({"type": "no.such.event"})
    assert (await communicator.receive_json_from())["code"] == "unknown_event"

    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from())["code"] == "malformed_event"

    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_event_is_delivered_only_after_commit_and_never_on_rollback():
    alice = await database_sync_to_async(make_user)("alice")
    bob = await database_sync_to_async(make_user)("bob")
    cookie = await database_sync_to_async(_session_cookie)(alice)
    communicator, _ = await _connect([ORIGIN, (b"cookie", cookie)])
    await communicator.receive_json_from()  # hello

    committed = asyncio.Event()
    proceed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def write_then_commit():
        with closing(connection), transaction.atomic():
            bob.first_name = "Bob"
            bob.save(update_fields=["first_name"])
            send_event_on_commit([alice.pk], {"type": "profile.changed", "user": "bob"})
            # Still inside the transaction: the event must not have left yet.
            loop.call_soon_threadsafe(committed.set)
            asyncio.run_coroutine_threadsafe(proceed.wait(), loop).result(timeout=5)

    def roll_back():
        try:
            close_old_connections()
            with transaction.atomic():
                send_event_on_commit([alice.pk], {"type": "never.sent"})
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        finally:
            connection.close()

    writer = asyncio.ensure_future(sync_to_async(write_then_commit, thread_sensitive=False)())
    await committed.wait()
    assert await communicator.receive_nothing(timeout=0.3)
    proceed.set()
    await writer
    assert await communicator.receive_json_from(timeout=2) == {"type": "profile.changed", "user": "bob"}

    await sync_to_async(roll_back, thread_sensitive=False)()
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_close_sockets_on_commit_disconnects_the_user():
    from digis.realtime.events import close_sockets_on_commit

    alice = await database_sync_to_async(make_user)("alice")
    cookie = await database_sync_to_async(_session_cookie)(alice)
    communicator, _ = await _connect([ORIGIN, (b"cookie", cookie)])
    await communicator.receive_json_from()
    await sync_to_async(close_sockets_on_commit)([alice.pk], reason="banned")
    assert (await communicator.receive_json_from())["type"] == "closing"
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4403}
