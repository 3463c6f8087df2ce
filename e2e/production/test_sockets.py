"""The /ws/ socket as deployed: through Redis, idle for minutes, across web processes."""

import asyncio
import os

import pytest

from e2e.clients import Socket, in_own_loop
from e2e.production.conftest import DEMO_PASSWORD

# Long enough to cross every timeout that closed sockets in production before:
# redis-py's 5 s socket timeout against channels_redis's 5 s blocking pop, and
# the presence TTL (90 s) a real tab refreshes with its 30 s pings.
IDLE_S = float(os.environ.get("DIGIS_PRODUCTION_IDLE_S", "90"))


@in_own_loop
async def test_an_idle_socket_stays_open_and_still_receives_events(deployment, signed_in):
    luna = signed_in("luna", web=0)
    alice = signed_in("alice", web=1)  # the ring crosses from one web process to the other
    socket = await Socket.open(deployment.url(web=0), client=luna)
    try:
        await asyncio.sleep(IDLE_S)  # nothing sent, nothing received
        assert socket.ws.close_code is None, f"closed with {socket.ws.close_code} while idle"
        await socket.send({"type": "ping"})  # what the page does every 30 s; keeps luna "online"
        await socket.expect("pong")
        response = await asyncio.to_thread(alice.post, "/api/calls/", json={"creator": "luna", "kind": "voice"})
        assert response.status_code == 201, response.text
        ringing = await socket.expect("call.ringing", timeout=15)
        assert ringing["call_id"] == response.json()["id"]
        cancel = await asyncio.to_thread(alice.post, f"/api/calls/{ringing['call_id']}/cancel/")
        assert cancel.status_code == 200, cancel.text
    finally:
        await socket.close()
    assert "TimeoutError" not in deployment.logs("web")
    assert deployment.all_alive() == {name: True for name in deployment.all_alive()}


@in_own_loop
async def test_a_bearer_token_socket_is_accepted_with_its_subprotocol(deployment, visitor):
    token = await asyncio.to_thread(visitor.token, "alice", DEMO_PASSWORD)
    socket = await Socket.open(deployment.url(), token=token)
    assert socket.ws.subprotocol == "digis.bearer"
    await socket.close()
