"""Writing one room event to many local sockets at the cost of a socket write each.

A room's event reaches a web process once (digis/realtime/rooms.py) and must
then go to every local socket in the room. Through the ASGI interface each of
those writes is a ``websocket.send`` message that daphne routes to its
protocol, autobahn validates, encodes to UTF-8, frames and logs (building its
debug log's arguments even with debug logging off), and Twisted buffers and
writes on the reactor's next turn. That per-socket Python was most of what a
delivery cost (docs/streaming.md, "Room fan-out").

Here the event is encoded and framed **once per process** (``text_frame``),
and each socket that daphne serves over plain WebSocket is written the same
bytes directly (``DaphneSocket.write``). Any other socket (another ASGI server,
the test communicator, a connection that negotiated an extension) has no
direct writer and gets the ordinary ``websocket.send`` message.

This leans on channels', daphne's and autobahn's internals, pinned in
requirements.txt and guarded by ``digis/tests/test_room_sockets.py`` against a
real daphne process serving the real socket stack (docs/architecture.md,
"Where we lean on internals"):
- channels' ``SessionMiddleware`` (in the auth stack) hands the consumer its
  ``InstanceSessionWrapper.send``, which acts only on ``save_message_types``
  (``http.response.start``: saving the session, setting its cookie) and passes
  everything else to the server's send (``real_send``): a ``websocket.send``
  skips nothing by going around it (checked, not assumed);
- daphne hands each connection's application ``send=partial(Server.handle_reply, protocol)``
  (daphne.server.Server.create_application), so that send names the
  connection's autobahn protocol;
- autobahn's ``WebSocketServerProtocol`` attributes ``state``/``STATE_OPEN``,
  ``send_queue`` (frames it holds back; empty unless a caller asked for chopped
  writes), ``websocket_extensions_in_use`` and ``transport``; a frame is written
  to the transport the way autobahn's own ``sendPreparedMessage`` does;
- Twisted's TCP transport (``twisted.internet.tcp.Server``): when nothing is
  buffered in it (``dataBuffer``/``offset``/``_tempDataBuffer``), the frame goes
  to the kernel with one ``send`` now, as an asyncio transport would write it,
  instead of registering the socket for writing and sending on the next turn;
  whatever the kernel does not take is handed to ``transport.write``, which
  keeps the order.
"""

import functools
import struct
import sys


def text_frame(text: str) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455 5.2): what a server sends."""
    payload = text.encode("utf-8")
    length = len(payload)
    if length <= 125:
        header = bytes((0x81, length))
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class DaphneSocket:
    """A socket served by daphne over plain WebSocket, written a prepared frame at a time."""

    __slots__ = ("protocol", "open_state", "tcp")

    def __init__(self, protocol, tcp_transport_type):
        self.protocol = protocol
        self.open_state = protocol.STATE_OPEN
        # Direct kernel writes only on daphne's plain TCP transport (not TLS, not a wrapper).
        self.tcp = type(protocol.transport) is tcp_transport_type

    def write(self, frame: bytes) -> bool:
        """Write ``frame``; False if the socket is no longer open (its disconnect takes it out of its rooms)."""
        protocol = self.protocol
        if protocol.state != self.open_state:
            return False
        if protocol.send_queue:
            # autobahn holds frames back (a chopped write in progress): queue behind them.
            protocol.sendData(frame)
            return True
        transport = protocol.transport
        if self.tcp and transport.connected and not transport.disconnecting and not transport._tempDataBuffer \
                and transport.offset == len(transport.dataBuffer):
            try:
                sent = transport.socket.send(frame)
            except OSError:
                # Full (EAGAIN), interrupted, or broken: Twisted's own write retries, or meets the
                # error and closes the connection its way.
                sent = 0
            if sent == len(frame):
                return True
            frame = frame[sent:]
        transport.write(frame)
        return True


def _server_send(send):
    """The server's own send under channels' session wrappers (see the module's docstring)."""
    from channels.sessions import InstanceSessionWrapper

    while getattr(send, "__func__", None) is InstanceSessionWrapper.send:
        wrapper = send.__self__
        if "websocket.send" in wrapper.save_message_types or "websocket.send" in wrapper.cookie_response_message_types:
            return None  # it would act on our messages: keep going through it
        send = wrapper.real_send
    return send


def direct_socket(consumer) -> DaphneSocket | None:
    """The consumer's socket as a ``DaphneSocket``, or None when it is not a plain daphne WebSocket.

    Call it after the socket was accepted (its extensions are known then).
    """
    server_module = sys.modules.get("daphne.server")  # never imported here: importing it installs a reactor
    if server_module is None:
        return None
    send = _server_send(getattr(consumer, "base_send", None))
    if not isinstance(send, functools.partial) or send.keywords or len(send.args) != 1:
        return None
    if getattr(send.func, "__func__", None) is not server_module.Server.handle_reply:
        return None
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import tcp

    protocol = send.args[0]
    if not isinstance(protocol, WebSocketProtocol) or protocol.state != protocol.STATE_OPEN:
        return None
    if protocol.websocket_extensions_in_use:
        return None  # permessage-deflate compresses per connection: a shared frame cannot be used
    return DaphneSocket(protocol, tcp.Server)
