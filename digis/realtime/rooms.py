"""Rooms: one event to every socket in a room (a live stream's viewers), and who is in it.

Fan-out
-------
A room's event is **one channel-layer operation per web process**: each web
process subscribes once to the rooms it has sockets in (one group per room on
the ``REALTIME_ROOMS_LAYER`` channel layer, a ``RedisPubSubChannelLayer`` in
production, holding one channel per process), receives each event once (its
JSON already encoded by the sender), frames it once and writes the same bytes
to each local socket (digis/realtime/sockets.py): no per-socket Channels
dispatch, JSON or framing. ``send_to_room`` is a single PUBLISH whatever the
room's size.

The alternative measured against it (``REALTIME_ROOM_FANOUT=group``) adds
every socket's own channel to a channels group per room: a group send then
reads the whole member list from Redis, writes a message naming every member
of each process, and every socket's consumer decodes, re-encodes and sends it
on its own. bench/realtime_live.py runs both over two daphne processes; the
figures and the choice are in docs/streaming.md. Control messages (removing a
banned user from a room) always go process-wide, in both modes.

Presence
--------
Who is in a room is a sorted set per room (member: user id, score: last seen)
plus a count of each member's open sockets, in Redis (``REDIS_URL``) or in
this process (embedded default). A socket joining adds one, leaving takes one;
a member whose last socket left is gone at once. Sockets that drop without
closing stop sending heartbeats: a member not seen for ``ttl`` seconds is not
counted (``count`` ignores them even before ``sweep`` removes them), so the
count is right within one TTL however the socket died, including a whole web
process dying. ``claim`` is the same set with a capacity and without socket
counting (a seat that a heartbeat keeps).

Consumers join with ``await join(consumer, room, ...)`` (from a socket event
handler) and leave with ``await leave(consumer, room)``; the /ws/ consumer's
``disconnect`` calls ``leave_all`` so a closed tab always leaves its rooms.
"""

import asyncio
import inspect
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from digis.realtime.sockets import direct_socket, text_frame

logger = logging.getLogger(__name__)

ROOM_GROUP_PREFIX = "room."
# A channel-layer call that takes longer than this is given up (Redis away):
# a socket's disconnect must never hang on a room, as for the user's group.
LAYER_TIMEOUT_S = 3.0


async def _bounded(awaitable):
    return await asyncio.wait_for(awaitable, LAYER_TIMEOUT_S)


def group_name(room: str) -> str:
    return ROOM_GROUP_PREFIX + room


def fanout_mode() -> str:
    return getattr(settings, "REALTIME_ROOM_FANOUT", "process")


def rooms_layer():
    return get_channel_layer(getattr(settings, "REALTIME_ROOMS_LAYER", "rooms"))


# --- presence stores ---------------------------------------------------------------

_JOIN = """
local present = redis.call('ZSCORE', KEYS[1], ARGV[1])
local cutoff = tonumber(ARGV[3])
local fresh = present and tonumber(present) > cutoff
local live = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf')
local capacity = tonumber(ARGV[4])
if capacity > 0 and not fresh and live >= capacity then
  return {0, live}
end
if ARGV[5] == '1' then
  if present and not fresh then redis.call('HSET', KEYS[2], ARGV[1], 0) end
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if not fresh then live = live + 1 end
local peak = tonumber(redis.call('GET', KEYS[3]) or '0')
if live > peak then redis.call('SET', KEYS[3], live, 'EX', ARGV[6]) end
return {1, live}
"""

_LEAVE = """
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
if left <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
"""

_TOUCH = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
return 0
"""

_SWEEP = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #stale > 0 then
  redis.call('ZREM', KEYS[1], unpack(stale))
  redis.call('HDEL', KEYS[2], unpack(stale))
end
return {#stale, redis.call('ZCARD', KEYS[1])}
"""

KEY_TTL_S = 2 * 24 * 3600  # a room's keys outlive any stream; dropped by clear()


class RedisPresence:
    """Room presence in Redis: every web process and worker sees the same rooms."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.prefix = prefix
        self._join = self.client.register_script(_JOIN)
        self._leave = self.client.register_script(_LEAVE)
        self._touch = self.client.register_script(_TOUCH)
        self._sweep = self.client.register_script(_SWEEP)

    def _keys(self, room: str) -> list[str]:
        base = f"{self.prefix}:room:{room}"
        return [f"{base}:seen", f"{base}:sockets", f"{base}:peak"]

    def join(self, room, member, *, now, ttl, capacity=0, counted=True) -> tuple[bool, int]:
        ok, live = self._join(keys=self._keys(room), args=[member, now, now - ttl, capacity, "1" if counted else "0", KEY_TTL_S])
        return bool(ok), int(live)

    def leave(self, room, member, *, now, ttl) -> int:
        return int(self._leave(keys=self._keys(room)[:2], args=[member, now - ttl]))

    def release(self, room, member) -> None:
        seen, sockets, _ = self._keys(room)
        pipe = self.client.pipeline()
        pipe.zrem(seen, member)
        pipe.hdel(sockets, member)
        pipe.execute()

    def touch(self, room, member, *, now) -> bool:
        return bool(self._touch(keys=self._keys(room)[:1], args=[member, now]))

    def count(self, room, *, now, ttl) -> int:
        return int(self.client.zcount(self._keys(room)[0], f"({now - ttl}", "+inf"))

    def members(self, room, *, now, ttl) -> list[str]:
        return [m.decode() for m in self.client.zrangebyscore(self._keys(room)[0], f"({now - ttl}", "+inf")]

    def sweep(self, room, *, now, ttl) -> tuple[int, int]:
        removed_total = 0
        while True:
            removed, remaining = self._sweep(keys=self._keys(room)[:2], args=[now - ttl])
            removed_total += int(removed)
            if int(removed) < 1000:
                return removed_total, int(remaining)

    def peak(self, room) -> int:
        return int(self.client.get(self._keys(room)[2]) or 0)

    def clear(self, room) -> None:
        self.client.delete(*self._keys(room))


@dataclass
class _MemoryRoom:
    seen: dict = field(default_factory=dict)
    sockets: dict = field(default_factory=dict)
    peak: int = 0


class MemoryPresence:
    """The same, in this process (the embedded default has one web process)."""

    def __init__(self):
        self.rooms: dict[str, _MemoryRoom] = {}
        self.lock = threading.Lock()

    def _live(self, room: _MemoryRoom, cutoff) -> int:
        return sum(1 for seen in room.seen.values() if seen > cutoff)

    def join(self, room, member, *, now, ttl, capacity=0, counted=True):
        with self.lock:
            r = self.rooms.setdefault(room, _MemoryRoom())
            cutoff = now - ttl
            fresh = member in r.seen and r.seen[member] > cutoff
            live = self._live(r, cutoff)
            if capacity and not fresh and live >= capacity:
                return False, live
            if counted:
                if member in r.seen and not fresh:
                    r.sockets[member] = 0
                r.sockets[member] = r.sockets.get(member, 0) + 1
            r.seen[member] = now
            if not fresh:
                live += 1
            r.peak = max(r.peak, live)
            return True, live

    def leave(self, room, member, *, now, ttl):
        with self.lock:
            r = self.rooms.setdefault(room, _MemoryRoom())
            left = r.sockets.get(member, 0) - 1
            if left <= 0:
                r.sockets.pop(member, None)
                r.seen.pop(member, None)
            else:
                r.sockets[member] = left
            return self._live(r, now - ttl)

    def release(self, room, member):
        with self.lock:
            r = self.rooms.setdefault(room, _MemoryRoom())
            r.seen.pop(member, None)
            r.sockets.pop(member, None)

    def touch(self, room, member, *, now):
        with self.lock:
            r = self.rooms.setdefault(room, _MemoryRoom())
            if member in r.seen:
                r.seen[member] = now
                return True
            return False

    def count(self, room, *, now, ttl):
        with self.lock:
            return self._live(self.rooms.setdefault(room, _MemoryRoom()), now - ttl)

    def members(self, room, *, now, ttl):
        with self.lock:
            r = self.rooms.setdefault(room, _MemoryRoom())
            return [m for m, seen in r.seen.items() if seen > now - ttl]

    def sweep(self, room, *, now, ttl):
        with self.lock:
            r = self.rooms.setdefault(room, _MemoryRoom())
            stale = [m for m, seen in r.seen.items() if seen <= now - ttl]
            for member in stale:
                r.seen.pop(member, None)
                r.sockets.pop(member, None)
            return len(stale), len(r.seen)

    def peak(self, room):
        with self.lock:
            return self.rooms.setdefault(room, _MemoryRoom()).peak

    def clear(self, room):
        with self.lock:
            self.rooms.pop(room, None)


_store = None
_store_lock = threading.Lock()


def presence_store():
    """This process's presence store (Redis when REDIS_URL is set)."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                url = getattr(settings, "REDIS_URL", "")
                if url:
                    prefix = settings.CACHES["default"].get("KEY_PREFIX", "digis")
                    _store = RedisPresence(url, prefix)
                else:
                    _store = MemoryPresence()
    return _store


def _now() -> float:
    return time.time()


# Presence in one room (sync: call from a worker thread, a task or a service).

def presence_join(room: str, member, *, ttl: float, capacity: int = 0, counted: bool = True) -> tuple[bool, int]:
    """Add one socket of ``member``; with ``capacity`` > 0 refuse a new member when full. -> (admitted, count)."""
    return presence_store().join(room, str(member), now=_now(), ttl=ttl, capacity=capacity, counted=counted)


def presence_leave(room: str, member, *, ttl: float) -> int:
    """Remove one socket of ``member`` (the member leaves with their last socket). -> count."""
    return presence_store().leave(room, str(member), now=_now(), ttl=ttl)


def presence_release(room: str, member) -> None:
    """Remove ``member`` whatever their socket count (a seat given up, a ban)."""
    presence_store().release(room, str(member))


def presence_touch(room: str, member) -> bool:
    """A heartbeat: still here. False if ``member`` was not in the room (swept meanwhile)."""
    return presence_store().touch(room, str(member), now=_now())


def presence_count(room: str, *, ttl: float) -> int:
    return presence_store().count(room, now=_now(), ttl=ttl)


def presence_members(room: str, *, ttl: float) -> list[str]:
    return presence_store().members(room, now=_now(), ttl=ttl)


def presence_sweep(room: str, *, ttl: float) -> tuple[int, int]:
    """Forget members not seen for ``ttl`` seconds. -> (removed, remaining)."""
    return presence_store().sweep(room, now=_now(), ttl=ttl)


def presence_peak(room: str) -> int:
    return presence_store().peak(room)


def presence_clear(room: str) -> None:
    presence_store().clear(room)


# --- the per-process hub ----------------------------------------------------------------


@dataclass
class _Membership:
    on_leave: Callable | None = None  # run when the socket leaves (sync ones in a thread)
    # How room events are written to this socket: directly (a daphne WebSocket,
    # digis/realtime/sockets.py) or, when None, as an ASGI websocket.send.
    socket: object | None = None


class _Hub:
    """This process's rooms on one event loop: which local sockets are in which room.

    It holds one channel on the rooms layer, added to a room's group when the
    first local socket joins that room and discarded with the last, and one
    task that receives from that channel and writes each event to the room's
    local sockets.
    """

    def __init__(self):
        self.rooms: dict[str, dict] = {}  # room -> {consumer: _Membership}
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()
        self.delivered = 0  # socket writes, for tests and the benchmark

    async def _ensure_receiving(self):
        if self.channel is None:
            self.channel = await _bounded(rooms_layer().new_channel())
            self.task = asyncio.ensure_future(self._receive_loop(self.channel))

    async def add(self, room: str, consumer, membership: _Membership) -> bool:
        async with self.lock:
            await self._ensure_receiving()
            members = self.rooms.get(room)
            first = members is None
            if first:
                members = self.rooms[room] = {}
            new = consumer not in members
            members[consumer] = membership
            try:
                if first:
                    await _bounded(rooms_layer().group_add(group_name(room), self.channel))
                if new and fanout_mode() == "group":
                    await _bounded(consumer.channel_layer.group_add(group_name(room), consumer.channel_name))
            except BaseException:
                if new:
                    members.pop(consumer, None)
                if not members:
                    self.rooms.pop(room, None)
                raise
            return new

    async def remove(self, room: str, consumer) -> _Membership | None:
        async with self.lock:
            members = self.rooms.get(room)
            if not members or consumer not in members:
                return None
            membership = members.pop(consumer)
            if not members:
                del self.rooms[room]
                try:
                    await _bounded(rooms_layer().group_discard(group_name(room), self.channel))
                except Exception:
                    logger.exception("room unsubscribe failed", extra={"room": room})
            if fanout_mode() == "group":
                try:
                    await _bounded(consumer.channel_layer.group_discard(group_name(room), consumer.channel_name))
                except Exception:
                    logger.exception("room group discard failed", extra={"room": room})
            return membership

    def rooms_of(self, consumer) -> list[str]:
        return [room for room, members in self.rooms.items() if consumer in members]

    def local_members(self, room: str) -> list:
        return list(self.rooms.get(room, ()))

    async def _receive_loop(self, channel):
        layer = rooms_layer()
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("room receive failed")
                await asyncio.sleep(0.5)
                continue
            try:
                await self._deliver(message)
            except Exception:
                logger.exception("room delivery failed", extra={"room": message.get("room")})

    async def _deliver(self, message: dict):
        room = message.get("room")
        members = self.rooms.get(room)
        if not members:
            return
        kind = message.get("kind", "event")
        if kind == "event":
            if fanout_mode() == "group":
                return  # each socket's own channel carries events in group mode
            await self._write(list(members.items()), message["text"])
        elif kind == "user":
            # An event for one user's sockets in this room (a kick, a notice).
            user_id = message["user_id"]
            targets = [(c, m) for c, m in members.items() if str(getattr(c.user, "pk", "")) == user_id]
            if message.get("text"):
                await self._write(targets, message["text"])
            if message.get("remove"):
                for consumer, _ in targets:
                    await leave(consumer, room)

    async def _write(self, targets: list, text: str):
        """Write one event to these (consumer, membership) pairs: framed once, the same bytes to every direct socket."""
        frame = None
        for consumer, membership in targets:
            try:
                socket = membership.socket
                if socket is not None:
                    if frame is None:
                        frame = text_frame(text)
                    if socket.write(frame):
                        self.delivered += 1
                    # else: closed under us; its disconnect takes it out of the room
                    continue
                await consumer.base_send({"type": "websocket.send", "text": text})
                self.delivered += 1
            except Exception:  # a socket closing under us; its disconnect removes it
                logger.debug("room write failed", exc_info=True)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = weakref.WeakKeyDictionary()


def hub() -> _Hub:
    """The hub of the running event loop (one per web process; one per test's loop)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = _Hub()
    return found


# --- joining and leaving (async: from socket handlers and the consumer) ---------------


async def join(consumer, room: str, *, on_leave: Callable | None = None) -> bool:
    """Put this socket in ``room`` (idempotent). ``on_leave`` (sync, or a coroutine function) runs when it leaves,
    however it leaves: ``leave``, a closed socket, or removal by ``remove_user_on_commit``.
    Returns True if the socket was not in the room yet."""
    return await hub().add(room, consumer, _Membership(on_leave=on_leave, socket=direct_socket(consumer)))


async def leave(consumer, room: str) -> bool:
    membership = await hub().remove(room, consumer)
    if membership is None:
        return False
    if membership.on_leave is not None:
        try:
            if inspect.iscoroutinefunction(membership.on_leave):
                await membership.on_leave()
            else:
                await sync_to_async(membership.on_leave)()
        except Exception:
            logger.exception("room leave hook failed", extra={"room": room})
    return True


async def leave_all(consumer) -> None:
    """Every room this socket is in (the consumer's disconnect calls this)."""
    found = _hubs.get(asyncio.get_running_loop())
    if found is None:
        return
    for room in found.rooms_of(consumer):
        try:
            await leave(consumer, room)
        except Exception:  # never let a room stop the rest of a disconnect
            logger.exception("room leave failed", extra={"room": room})


def in_room(consumer, room: str) -> bool:
    found = _hubs.get(asyncio.get_running_loop())
    return bool(found and consumer in found.rooms.get(room, {}))


# --- sending -------------------------------------------------------------------------------


def _encode(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"))


async def send_to_room(room: str, event: dict) -> None:
    """Deliver ``event`` to every socket in ``room`` on every web process: one layer operation."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("an event is a dict with a string 'type'")
    try:
        if fanout_mode() == "group":
            await _bounded(get_channel_layer().group_send(group_name(room), {"type": "realtime.event", "event": event}))
        else:
            await _bounded(rooms_layer().group_send(group_name(room), {"kind": "event", "room": room, "text": _encode(event)}))
    except Exception:  # a dropped room event must never fail what caused it
        logger.exception("room send failed", extra={"room": room, "event_type": event.get("type")})


async def send_to_user_in_room(room: str, user_id, event: dict | None = None, *, remove: bool = False) -> None:
    """``event`` to ``user_id``'s sockets in ``room`` only, on every process; ``remove`` also takes them out."""
    message = {"kind": "user", "room": room, "user_id": str(user_id), "remove": remove}
    if event is not None:
        message["text"] = _encode(event)
    try:
        await _bounded(rooms_layer().group_send(group_name(room), message))
    except Exception:
        logger.exception("room send failed", extra={"room": room})


def _run(coroutine_function, *args, **kwargs) -> None:
    try:
        async_to_sync(coroutine_function)(*args, **kwargs)
    except Exception:
        logger.exception("room send failed", extra={"room": args[0] if args else None})


def send_to_room_on_commit(room: str, event: dict, *, using: str | None = None) -> None:
    """From sync code (a service): send after the transaction commits, never on rollback."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("an event is a dict with a string 'type'")
    transaction.on_commit(lambda: _run(send_to_room, room, event), using=using)


def remove_user_on_commit(room: str, user_id, event: dict | None = None, *, using: str | None = None) -> None:
    """After commit: tell ``user_id``'s sockets in ``room`` (``event``) and take them out of it, on every process."""
    transaction.on_commit(lambda: _run(send_to_user_in_room, room, user_id, event, remove=True), using=using)
