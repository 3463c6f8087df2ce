"""One live room across two real daphne processes: real sockets, real Redis, real PostgreSQL.

Process A serves the host and one viewer, process B another viewer. What one
process does must hold on the other at once: chat and tip alerts fan out to
both, slow mode set through A refuses a second message sent through B, a ban
issued through B takes the viewer on A out of the room. Redis itself shows the
fan-out design: one pub/sub subscription per process for the room, not one
per socket.
"""

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from accounts.tests.factories import make_creator, make_user
from streaming import services
from streaming.tests.conftest import balance, fund, make_host

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _wait_for_port(port, seconds=90):
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise TimeoutError(f"daphne on {port} did not start")


@pytest.fixture
def daphnes():
    """Two daphne processes on the test database and Redis."""
    if not getattr(settings, "REDIS_URL", ""):
        pytest.skip("needs Redis: run `make test`")
    db = settings.DATABASES["default"]
    env = dict(os.environ, DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", LOG_LEVEL="WARNING",
               DB_POOL_MAX_SIZE="8")
    ports = [_free_port(), _free_port()]
    daphne = str(Path(sys.executable).with_name("daphne"))
    procs = [subprocess.Popen([daphne, "-b", "127.0.0.1", "-p", str(port), "digis.asgi:application"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    yield ports
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


class Socket:
    def __init__(self, ws):
        self.ws = ws
        self.seen = []

    @classmethod
    async def open(cls, port, token):
        import websockets

        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", subprotocols=["digis.bearer", token],
                                      origin=f"http://127.0.0.1:{port}", open_timeout=30)
        sock = cls(ws)
        await sock.expect("hello")
        return sock

    async def expect(self, event_type, timeout=10, where=lambda e: True):
        for index, event in enumerate(self.seen):
            if event["type"] == event_type and where(event):
                return self.seen.pop(index)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            event = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, left)))
            if event["type"] == event_type and where(event):
                return event
            self.seen.append(event)

    async def request(self, event_type, stream_id, **extra):
        ref = f"{event_type}:{len(self.seen)}:{id(extra)}"
        await self.ws.send(json.dumps({"type": event_type, "stream_id": str(stream_id), "ref": ref, **extra}))
        return await self._reply(ref)

    async def _reply(self, ref):
        while True:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if event.get("ref") == ref:
                return event
            self.seen.append(event)


def _http(port, method, path, token, body=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _setup():
    from accounts.tokens import issue_token_pair

    host = make_host(make_creator("bob"))
    fans = [make_user("alice"), make_user("carol")]
    for fan in fans:
        fund(fan, 500)
    stream = services.go_live(host=host, title="Two processes")
    tokens = [issue_token_pair(user=user)["access"] for user in (host, *fans)]
    connections.close_all()
    return host, fans, stream, tokens


async def test_a_room_spans_two_daphne_processes(daphnes):
    import redis.asyncio as aioredis

    port_a, port_b = daphnes
    host, fans, stream, (host_token, alice_token, carol_token) = await sync_to_async(_setup)()
    await _wait_for_port(port_a)
    await _wait_for_port(port_b)

    host_ws = await Socket.open(port_a, host_token)
    alice_ws = await Socket.open(port_a, alice_token)
    carol_ws = await Socket.open(port_b, carol_token)
    assert (await host_ws.request("live.join", stream.pk))["role"] == "host"
    assert (await alice_ws.request("live.join", stream.pk))["role"] == "viewer"
    joined = await carol_ws.request("live.join", stream.pk)
    assert joined["role"] == "viewer" and joined["stream"]["viewers"] == 2

    # One subscription per process for the room, whatever the number of sockets.
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    room_channel = f"{settings.CHANNEL_LAYERS['rooms']['CONFIG']['prefix']}__group__room.live.{stream.pk}"
    assert dict(await client.pubsub_numsub(room_channel)) == {room_channel.encode(): 2}

    # Chat sent on B reaches A; a tip paid through B's API alerts A's sockets.
    sent = await carol_ws.request("live.chat", stream.pk, text="hi from B", client_key="c1")
    assert sent["created"] is True
    for ws in (host_ws, alice_ws, carol_ws):
        assert (await ws.expect("live.chat"))["message"]["text"] == "hi from B"
    status, body = await sync_to_async(_http)(port_b, "POST", f"/api/streams/{stream.pk}/tips/", carol_token,
                                              {"amount": 40, "message": "cheers", "client_key": "tip-1"})
    assert (status, body["created"]) == (201, True)
    status, body = await sync_to_async(_http)(port_a, "POST", f"/api/streams/{stream.pk}/tips/", carol_token,
                                              {"amount": 40, "message": "cheers", "client_key": "tip-1"})
    assert (status, body["created"]) == (200, False)  # retried through the other process: charged once
    for ws in (host_ws, alice_ws, carol_ws):
        assert (await ws.expect("live.tip"))["tip"]["amount"] == 40
    assert await sync_to_async(balance)(fans[1]) == 460

    # Slow mode switched on through A holds for a message sent through B.
    status, _ = await sync_to_async(_http)(port_a, "PATCH", f"/api/streams/{stream.pk}/chat/settings/", host_token, {"slow_mode_s": 60})
    assert status == 200
    await carol_ws.expect("live.settings")
    assert (await carol_ws.request("live.chat", stream.pk, text="one", client_key="c2"))["type"] == "live.chat_sent"
    refused = await carol_ws.request("live.chat", stream.pk, text="two", client_key="c3")
    assert (refused["type"], refused["code"]) == ("error", "slow_mode")

    # A viewer cannot moderate, on either process.
    status, body = await sync_to_async(_http)(port_b, "POST", f"/api/streams/{stream.pk}/bans/", carol_token, {"user": "alice"})
    assert (status, body["error"]["code"]) == (403, "not_a_moderator")

    # A timeout through B holds on A at once; a ban through B takes alice (on A) out of the room.
    status, _ = await sync_to_async(_http)(port_b, "POST", f"/api/streams/{stream.pk}/timeouts/", host_token,
                                           {"user": "alice", "seconds": 120, "reason": "cool down"})
    assert status == 201
    refused = await alice_ws.request("live.chat", stream.pk, text="hey", client_key="a1")
    assert refused["code"] == "timed_out"
    status, _ = await sync_to_async(_http)(port_b, "POST", f"/api/streams/{stream.pk}/bans/", host_token, {"user": "alice", "reason": "spam"})
    assert status == 201
    await alice_ws.expect("live.banned")
    status, _ = await sync_to_async(_http)(port_a, "PATCH", f"/api/streams/{stream.pk}/chat/settings/", host_token, {"slow_mode_s": 0})
    assert (await carol_ws.request("live.chat", stream.pk, text="after the ban", client_key="c4"))["type"] == "live.chat_sent"
    await host_ws.expect("live.chat", where=lambda e: e["message"]["text"] == "after the ban")
    await asyncio.sleep(0.3)  # anything still in flight to alice arrives now
    while True:
        try:
            alice_ws.seen.append(json.loads(await asyncio.wait_for(alice_ws.ws.recv(), 0.3)))
        except asyncio.TimeoutError:
            break
    assert not [e for e in alice_ws.seen if e["type"] == "live.chat" and e["message"]["text"] == "after the ban"]
    assert (await alice_ws.request("live.join", stream.pk))["code"] == "banned_from_channel"

    # The host's page ends the stream through B: everyone on both processes hears it.
    status, body = await sync_to_async(_http)(port_b, "POST", f"/api/streams/{stream.pk}/end/", host_token)
    assert (status, body["status"]) == (200, "ended")
    for ws in (host_ws, carol_ws):
        assert (await ws.expect("live.ended"))["reason"] == "ended"
    for ws in (host_ws, alice_ws, carol_ws):
        await ws.ws.close()
    await client.aclose()
