"""The wallet.updated push of a crediting webhook served over ASGI (as daphne
serves it): sent through the real channel layer after commit, never before,
and the response does not wait for it."""

import asyncio
import json

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from digis.realtime import events
from ledger import services as ledger
from payments import services
from payments.tests.conftest import WEBHOOK_PATH, buy, sign, succeeded_event


async def deliver_over_asgi(event: dict):
    """POST a signed event through Django's ASGI handler, on this test's event loop."""
    payload = json.dumps(event).encode()
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"stripe-signature", sign(payload).encode())]
    communicator = HttpCommunicator(ASGIHandler(), "POST", WEBHOOK_PATH, body=payload, headers=headers)
    response = await communicator.get_response(timeout=15)
    await communicator.wait(timeout=5)  # the request has fully ended (its connection is back in the pool)
    return response


@pytest_asyncio.fixture(autouse=True)
async def close_connections_afterwards():
    """sync_to_async ran the ORM in a thread of its own: give its connection
    back, or the test database cannot be dropped."""
    yield
    await sync_to_async(connections.close_all)()


async def listen_to(user):
    """A socket's channel in the user's group, as the realtime consumer joins it."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(f"user.{user.pk}", channel)
    return layer, channel


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_balance_is_pushed_through_the_channel_layer_after_the_response(alice, starter, localstripe, monkeypatch):
    # given: alice paid and has a socket open; the layer is slow to take the push
    purchase = await sync_to_async(buy)(alice, starter)
    event = await sync_to_async(succeeded_event)(purchase)
    layer, channel = await listen_to(alice)
    real_group_send, layer_may_go = layer.group_send, asyncio.Event()

    async def slow_group_send(group, message):
        await layer_may_go.wait()
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", slow_group_send)

    # when Stripe delivers the succeeded event
    response = await deliver_over_asgi(event)

    # then the response (tokens credited and committed) did not wait for the push
    assert response["status"] == 200 and json.loads(response["body"])["outcome"] == "processed"
    assert await sync_to_async(ledger.balance_of)(user=alice) == 100
    # (two detached pushes: the balance and the "tokens credited" notification)
    assert len(events._detached_in_flight) == 2
    # and the pushes still reach her socket
    layer_may_go.set()
    received = [(await asyncio.wait_for(layer.receive(channel), 5))["event"] for _ in range(2)]
    assert {"type": "wallet.updated", "balance": 100} in received
    assert [e["notification"]["kind"] for e in received if e["type"] == "notification.new"] == ["purchase_credited"]
    await asyncio.sleep(0)
    assert not events._detached_in_flight


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_credit_that_rolls_back_pushes_nothing(alice, starter, localstripe, monkeypatch):
    # given: the handler fails after the credit and its push were queued
    purchase = await sync_to_async(buy)(alice, starter)
    event = await sync_to_async(succeeded_event)(purchase)
    layer, channel = await listen_to(alice)

    def mark_done_fails(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_mark_done", mark_done_fails)

    # when Stripe delivers the event
    response = await deliver_over_asgi(event)

    # then it failed (Stripe retries), nothing was credited, and nothing was announced
    assert response["status"] == 500
    assert await sync_to_async(ledger.balance_of)(user=alice) == 0
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.5)
