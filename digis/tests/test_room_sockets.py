"""A room's event is framed once per process and written to each daphne socket directly.

digis/realtime/sockets.py leans on daphne's, autobahn's and Twisted's internals
(docs/architecture.md, "Where we lean on internals"): these tests fail if their
shape changes. The frame is checked against autobahn's own framing; the direct
path is checked end to end against a real daphne process (``python -m
digis.server``, as the Procfile runs it) serving digis/tests/room_socket_probe.py,
with a real WebSocket client that validates every frame it reads.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from autobahn.websocket.protocol import PreparedMessage

from digis.realtime.sockets import direct_socket, text_frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_a_frame_is_what_autobahn_would_send(size):
    # given a text of that many bytes, some of them not ASCII
    text = "é" * (size // 2) + "a" * (size % 2)
    assert len(text.encode()) == size

    # when it is framed once for every socket
    frame = text_frame(text)

    # then the bytes are autobahn's own unmasked, uncompressed server frame of it
    assert frame == PreparedMessage(text.encode(), isBinary=False, applyMask=False, doNotCompress=True).payloadHybi


def test_a_socket_not_served_by_daphne_has_no_direct_writer():
    # given a consumer whose send is not daphne's (the test communicator, another ASGI server)
    class Consumer:
        async def base_send(self, message):
            pass

    # then rooms write to it with ordinary ASGI messages
    assert direct_socket(Consumer()) is None
    assert direct_socket(object()) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def probe_server():
    port = _free_port()
    env = dict(os.environ, LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "digis.server", "-b", "127.0.0.1", "-p", str(port),
                             "digis.tests.room_socket_probe:application"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _connect(port, seconds=90, compression=None):
    import websockets

    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await websockets.connect(f"ws://127.0.0.1:{port}/", origin=f"http://127.0.0.1:{port}", max_size=None,
                                            compression=compression, open_timeout=30)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _next(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


@pytest.mark.slow
@pytest.mark.asyncio
async def test_daphne_sockets_get_room_events_written_directly_and_in_order(probe_server):
    port, proc = probe_server

    # given two sockets on a real daphne process, behind the /ws/ stack, both in the room
    # (the first offers compression as browsers do; daphne declines it, so a shared frame fits both)
    first = await _connect(port, compression="deflate")
    second = await _connect(port)
    for ws in (first, second):
        assert await _next(ws) == {"type": "joined", "direct": True}  # the stack's shape is what sockets.py expects

    # when three events are sent to the room
    await first.send(json.dumps({"room": ["one", "två", "three"]}))

    # then each socket reads all three, whole and in order
    for ws in (first, second):
        assert [(await _next(ws))["text"] for _ in range(3)] == ["one", "två", "three"]

    # when a frame larger than the socket's send buffer is written directly, then small frames and an ASGI send
    await second.send(json.dumps({"mixed": 8_000_000}))

    # then what the kernel did not take at once follows, and everything after it keeps its place
    events = [await _next(second) for _ in range(4)]
    assert events[0]["type"] == "probe.big" and len(events[0]["text"]) == 8_000_000
    assert [e["n"] for e in events[1:]] == [1, 2, 3]

    # when one socket is gone, the room still reaches the other, and the server stays up
    await second.close()
    await first.send(json.dumps({"room": ["after"]}))
    assert (await _next(first))["text"] == "after"
    await first.close()
    assert proc.poll() is None
