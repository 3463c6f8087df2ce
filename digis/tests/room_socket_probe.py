"""An ASGI application for digis/tests/test_room_sockets.py, served by a real daphne process.

Its consumer sits behind the same socket stack as /ws/ (``socket_stack``: the
origin check, the session and bearer auth middleware), so what rooms find
under the consumer's send is what they find in production.

Each socket joins the room "probe" through digis.realtime.rooms and says whether
rooms will write to it directly (digis/realtime/sockets.py). Then, on command:
- ``{"room": [texts]}``: each text is sent to the room (send_to_room), so every
  socket in it gets it through the hub's write path;
- ``{"mixed": n}``: a frame bigger than a loopback socket's send buffer is
  written directly, then small direct writes and an ASGI send (the kernel takes
  part of the big one; the rest and everything after must follow in order).
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digis.settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402

from digis.realtime import rooms  # noqa: E402
from digis.realtime.routing import socket_stack  # noqa: E402
from digis.realtime.sockets import text_frame  # noqa: E402

ROOM = "probe"


class Probe(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        await rooms.join(self, ROOM)
        membership = rooms.hub().rooms[ROOM][self]
        await self.send(text_data=json.dumps({"type": "joined", "direct": membership.socket is not None}))

    async def receive(self, text_data=None, bytes_data=None):
        command = json.loads(text_data)
        if "room" in command:
            for text in command["room"]:
                await rooms.send_to_room(ROOM, {"type": "probe.room", "text": text})
        elif "mixed" in command:
            socket = rooms.hub().rooms[ROOM][self].socket
            big = json.dumps({"type": "probe.big", "text": "x" * command["mixed"]})
            socket.write(text_frame(big))
            socket.write(text_frame(json.dumps({"type": "probe.mixed", "n": 1})))
            await self.send(text_data=json.dumps({"type": "probe.mixed", "n": 2}))
            socket.write(text_frame(json.dumps({"type": "probe.mixed", "n": 3})))

    async def disconnect(self, code):
        await rooms.leave_all(self)


application = socket_stack(Probe.as_asgi())
