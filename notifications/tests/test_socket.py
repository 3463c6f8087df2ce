"""Through the real /ws/ socket: a ring reaches the creator's tab as notification.new (what the
bell counts), and a tab that says which thread it shows holds back that thread's notifications."""

import pytest
from channels.db import database_sync_to_async

from calls.tests.conftest import fund, make_call_creator, online
from calls.tests.test_socket_calls import Party
from notifications import services
from notifications.models import NotificationKind

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]


async def test_a_ring_reaches_the_creators_tab_as_a_notification(alice, bob):
    from calls import services as calls

    await database_sync_to_async(fund)(alice, 1000)
    await database_sync_to_async(make_call_creator)(bob)
    tab = await Party.connect(bob)
    await database_sync_to_async(online)(bob)
    call = await database_sync_to_async(calls.request_call)(fan=alice, creator="bob", kind="video")
    event = await tab.expect("notification.new")
    assert event["notification"]["kind"] == "call_incoming"
    assert event["notification"]["url"] == f"/calls/{call.pk}/"
    assert event["notification"]["read"] is False
    await tab.ws.disconnect()


async def test_a_tab_showing_a_thread_holds_back_its_notifications(alice, bob):
    tab = await Party.connect(bob)
    await tab.ws.send_json_to({"type": "notifications.viewing", "thread": "thread-7"})
    assert (await tab.expect("notifications.viewing"))["thread"] == "thread-7"

    def message(thread):
        return services.notify(recipient=bob, kind=NotificationKind.MESSAGE_NEW, text="hi", actor=alice, data={"thread": thread})

    await database_sync_to_async(message)("thread-7")
    other = await database_sync_to_async(message)("thread-8")
    event = await tab.expect("notification.new")
    assert event["notification"]["id"] == str(other.pk)
    await tab.ws.send_json_to({"type": "notifications.viewing", "thread": 12})
    assert (await tab.expect("error"))["code"] == "invalid"
    await tab.ws.disconnect()
