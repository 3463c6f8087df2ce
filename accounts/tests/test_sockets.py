"""A banned user's open socket is closed at once."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts import services
from accounts.tests.factories import make_user
from accounts.tokens import issue_token_pair
from digis.asgi import application
from digis.realtime.consumers import CLOSE_FORBIDDEN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _users():
    from accounts.models import Role

    # transaction=True tests flush the tables, the migrated `moderators`
    # group included, so the actor here is an admin.
    alice = make_user("alice")
    admin = make_user("root", role=Role.ADMIN, is_staff=True, is_superuser=True)
    return alice, admin


async def test_banned_users_socket_is_closed_and_cannot_reconnect():
    alice, moderator = await database_sync_to_async(_users)()
    pair = await database_sync_to_async(issue_token_pair)(user=alice)
    communicator = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN], subprotocols=["digis.bearer", pair["access"]])
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"

    await database_sync_to_async(services.ban_user)(actor=moderator, user=alice, reason="Abuse")

    closing = await communicator.receive_json_from(timeout=5)
    assert closing == {"type": "closing", "reason": "banned"}
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    await communicator.disconnect()

    again = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN], subprotocols=["digis.bearer", pair["access"]])
    connected, _ = await again.connect()
    assert connected is False
    await again.disconnect()
