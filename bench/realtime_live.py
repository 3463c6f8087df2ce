"""Live room fan-out: 1,000 viewers over 2 daphne processes, a chat message every 100 ms, a tip every second.

    .venv/bin/python bench/realtime_live.py [--viewers 1000] [--seconds 20] [--modes process,group,pubsub] [--no-baseline]

Starts a throwaway PostgreSQL and Redis (bench/servers.py), migrates, creates a
host, a chatter, a tipper and --viewers viewers, and puts the host live. Then,
in one run, one variant after another, each on two fresh daphne processes:

  process  the site as configured: each web process subscribes once to the room
           (Redis pub/sub) and writes each event to its own sockets
           (REALTIME_ROOM_FANOUT=process, digis/realtime/rooms.py);
  group    a channels group per stream on the default RedisChannelLayer: every
           socket's channel is in the group (REALTIME_ROOM_FANOUT=group);
  pubsub   the same group, with channels_redis's RedisPubSubChannelLayer as the
           default layer (bench/live_settings.py);
  bare     the floor: two plain `websockets` servers, each subscribed to one Redis
           pub/sub channel, `websockets.broadcast` to their sockets (no Django, no
           channels, no auth); the driver PUBLISHes the same events.

Viewers are split evenly over the two processes and held by two client processes
(500 sockets each), each viewer a plain asyncio protocol reading frames itself so
that 11,000 receipts a second stay cheap (their CPU is measured and reported: a
client that falls behind would show as server latency). By default the room's
events are published the way the servers receive them (the fan-out alone: a chat
message every 100 ms, a tip every second); with --end-to-end the chatters send
`live.chat` over their sockets and the tipper POSTs /api/streams/{id}/tips/,
alternating processes. Each event carries its send time; every viewer records
send-to-receive latency. Per variant: p50/p99/max fan-out latency over every
delivery, deliveries missed, server RSS growth per connection (after the sockets
joined, before the traffic), and server, Redis and client CPU per delivered message
over the measured window (from /proc), with the load average at its start and end.
The web processes start as the Procfile's `web` line does. The figures go to
bench/RESULTS.md (not with --no-write).
"""

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import tempfile
import sys
import threading
import time
import urllib.request
from datetime import datetime
from datetime import timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from servers import Postgres, Redis, free_port, record_target, wait_for_port, web_command, write_results_section  # noqa: E402

SECTION = "## streaming: live room fan-out"
CHAT_EVERY_S = 0.1
TIP_EVERY_S = 1.0
# The room's chat comes from several people in turn (one message every 100 ms
# in all): a socket's events are handled one at a time, as in any room.
CHATTERS = 10
# Viewers join at this many a second in all (each join is a handshake, token check, Redis group and room
# join and a database read: a storm of them on a loaded 2-core machine timed out Redis connects);
# --join-rate changes it. A viewer whose join fails retries with jittered backoff, as the page does.
JOIN_RATE = 20
JOIN_ATTEMPTS = 8
# ... and at most this many joins in flight per client process: on a machine busy with other work the joins
# slow down instead of piling up past daphne's 5 s handshake timeout.
JOINS_IN_FLIGHT = 8


# --- /proc ----------------------------------------------------------------------------------


def cpu_ms(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total * 1000 / tick


def rss_kib(pid) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- client processes: hold the viewers' sockets, record latencies -----------------------------
#
# 11,000 receipts a second over two client processes must cost the clients little, or the
# clients' own queueing shows up as fan-out latency (and takes the CPU the servers need). A
# `websockets` client spends tens of microseconds of Python per frame (its parser, its message
# assembler, a task per `wait_for(recv())`); a viewer here is a plain asyncio protocol that reads
# the server's frames itself (RFC 6455: unmasked, unfragmented from these servers), answers
# pings, and stamps every frame of one read with one clock reading. It offers no extension, so
# neither daphne nor the bare server compresses (like for like).


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length <= 125:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length <= 0xFFFF:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (length // 4 + 1))[:length], "big")).to_bytes(length, "big")
    return header + mask + masked


class ViewerProtocol(asyncio.Protocol):
    MARKER = b'"t='

    def __init__(self, host, port, path, token, stream_id, app, latencies, counts):
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
                        + (f"Sec-WebSocket-Protocol: digis.bearer, {token}\r\nOrigin: http://{host}:{port}\r\n" if app else "")
                        + "\r\n").encode()
        self.stream_id, self.app = stream_id, app
        self.latencies, self.counts = latencies, counts
        self.buffer = b""
        self.upgraded = False
        self.joined = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if not self.joined.done():
            self._fail(ConnectionError(f"closed before joining: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _fail(self, exc):
        if not self.joined.done():
            self.joined.set_exception(exc)
            self.joined.exception()  # marked retrieved: the caller may have timed out already, and retries

    def send_text(self, text: str):
        self.transport.write(_client_frame(0x1, text.encode()))

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()

    def data_received(self, data):
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                self.buffer = buffer
                return
            status = buffer[:buffer.find(b"\r\n")]
            if b" 101 " not in status:
                self._fail(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
                self.transport.close()
                return
            self.upgraded = True
            buffer = buffer[head_end + 4:]
            if self.app:
                self.send_text(json.dumps({"type": "live.join", "stream_id": self.stream_id}))
            else:
                self.joined.set_result(None)
        now = time.time()
        position, size = 0, len(buffer)
        joined = self.joined.done()
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2:position + 4], "big"), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2:position + 10], "big"), 10
            start = position + head
            end = start + length
            if end > size:
                break
            if not first & 0x80:
                raise RuntimeError("fragmented frame: these servers send whole messages")
            opcode = first & 0x0F
            if opcode == 0x1:
                if joined:
                    marker = buffer.find(self.MARKER, start, end)
                    if marker >= 0:  # only chat and tip events carry a send time
                        stamp_end = buffer.find(b" ", marker + 3, end)
                        latency = (now - float(buffer[marker + 3:stamp_end])) * 1000
                        self.latencies.append(latency)
                        # "t=<stamp> tip <n>" or "t=<stamp> chat <n>"
                        self.counts["tips" if buffer[stamp_end + 1:stamp_end + 2] == b"t" else "chats"].append(latency)
                        # From the server's own stamp of the event (a message's or tip's created_at, set as it is
                        # stored): the fan-out under load, without the sender's request before it.
                        created = buffer.find(b'"created_at":"', start, end)
                        if created >= 0:
                            created_end = buffer.find(b'"', created + 14, end)
                            stored_at = datetime.fromisoformat(buffer[created + 14:created_end].decode()).timestamp()
                            self.counts["from_stored"].append((now - stored_at) * 1000)
                        self.counts["delivered"] += 1
                else:
                    event = json.loads(buffer[start:end])
                    if event.get("type") == "live.joined":
                        self.joined.set_result(None)
                        joined = True
                    elif event.get("type") == "error":
                        self._fail(RuntimeError(event))
            elif opcode == 0x9:  # ping: pong with the same payload
                self.transport.write(_client_frame(0xA, buffer[start:end]))
            elif opcode == 0x8:
                self.close()
            position = end
        self.buffer = buffer[position:] if position < size else b""


async def _viewer(url, token, stream_id, joined, latencies, counts, app, viewers, retries):
    loop = asyncio.get_running_loop()
    host_port, path = url[len("ws://"):].split("/", 1)
    host, port = host_port.rsplit(":", 1)
    for attempt in range(JOIN_ATTEMPTS):
        viewer = None
        try:
            _, viewer = await loop.create_connection(
                lambda: ViewerProtocol(host, int(port), "/" + path, token, stream_id, app, latencies, counts), host, int(port))
            await asyncio.wait_for(asyncio.shield(viewer.joined), 60)
            break
        except Exception:
            if viewer is not None:
                viewer.close()
            if attempt == JOIN_ATTEMPTS - 1:
                raise
            retries.append(1)
            await asyncio.sleep(random.uniform(0.5, 1.5) * 2 ** min(attempt, 4))
    viewers.append(viewer)
    joined.append(1)


def client_process(urls_tokens, stream_id, app, conn, spacing_s):
    """Runs in a child process: connect every socket, report ready, record until told to stop."""

    async def main():
        latencies, joined, counts, viewers, retries = [], [], {"delivered": 0, "tips": [], "chats": [], "from_stored": []}, [], []
        in_flight = asyncio.Semaphore(JOINS_IN_FLIGHT)

        async def staged(url, token, index):
            await asyncio.sleep(index * spacing_s)  # spread the handshakes (a join storm is its own test)
            async with in_flight:
                await _viewer(url, token, stream_id, joined, latencies, counts, app, viewers, retries)

        tasks = [asyncio.ensure_future(staged(url, token, i)) for i, (url, token) in enumerate(urls_tokens)]
        while len(joined) < len(urls_tokens):
            failed = [t for t in tasks if t.done() and t.exception()]
            if failed:
                conn.send(("error", repr(failed[0].exception())))
                return
            await asyncio.sleep(0.2)
        conn.send(("ready", (len(joined), len(retries))))
        loop = asyncio.get_running_loop()
        command = await loop.run_in_executor(None, conn.recv)
        assert command == "measure"
        latencies.clear()
        counts["delivered"] = 0
        counts["tips"].clear()
        counts["chats"].clear()
        counts["from_stored"].clear()
        command = await loop.run_in_executor(None, conn.recv)
        assert command == "stop"
        measured = (list(latencies), list(counts["chats"]), list(counts["tips"]), list(counts["from_stored"]))
        for viewer in viewers:
            viewer.close()
        await asyncio.wait([asyncio.ensure_future(v.closed) for v in viewers], timeout=10)
        conn.send(("done", measured))

    asyncio.run(main())


# --- the bare websockets floor ----------------------------------------------------------------


def bare_server(port: int, redis_url: str) -> None:
    """A plain `websockets` server: every socket gets each message PUBLISHed on bench:room."""
    import redis.asyncio as aioredis
    import websockets

    async def main():
        clients = set()

        async def handler(ws):
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)

        async def relay():
            pubsub = aioredis.Redis.from_url(redis_url).pubsub()
            await pubsub.subscribe("bench:room")
            async for message in pubsub.listen():
                if message["type"] == "message":
                    websockets.broadcast(clients, message["data"].decode())

        async with websockets.serve(handler, "127.0.0.1", port, max_queue=None):
            await relay()

    asyncio.run(main())


# --- one variant ---------------------------------------------------------------------------------


class Variant:
    def __init__(self, name, env, app=True):
        self.name, self.env, self.app = name, env, app
        self.procs = []
        self.ports = []

    def start(self, base_env, redis_url):
        self.ports = [free_port(), free_port()]
        if self.app:
            env = {**base_env, **self.env}
            # Each server's errors go to a log file named in the output (a failed variant says why there).
            self.logs = [Path(tempfile.gettempdir()) / f"digis-bench-live-{self.name}-{port}.log" for port in self.ports]
            # The Procfile's web line (python -m digis.server: daphne), as deployed.
            self.procs = [subprocess.Popen(web_command(port, python=sys.executable), cwd=ROOT, env=env,
                                           stdout=subprocess.DEVNULL, stderr=log.open("w")) for port, log in zip(self.ports, self.logs)]
        else:
            self.procs = [subprocess.Popen([sys.executable, __file__, "--bare-server", str(port), redis_url], cwd=ROOT,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in self.ports]
        for port in self.ports:
            if not wait_for_port(port, seconds=120):
                sys.exit(f"{self.name}: server on {port} did not start")

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def url(self, index):
        return f"ws://127.0.0.1:{self.ports[index % 2]}" + ("/ws/" if self.app else "/")


def post_json(port, path, token, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def room_publisher(variant, redis_url, stream_id):
    """Send a room event the way the variant's servers receive one (the fan-out alone, without the chat's handling)."""
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    group = f"room.live.{stream_id}"
    if variant.name == "process":
        layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix="digis:rooms")

        async def publish(event):
            await layer.group_send(group, {"kind": "event", "room": f"live.{stream_id}", "text": json.dumps(event, separators=(",", ":"))})
    else:
        layer = (RedisPubSubChannelLayer(hosts=[redis_url], prefix="digis-bench") if variant.name == "pubsub"
                 else RedisChannelLayer(hosts=[redis_url], prefix="digis"))

        async def publish(event):
            await layer.group_send(group, {"type": "realtime.event", "event": event})
    return publish


def run_variant(variant, *, base_env, redis, stream_id, viewer_tokens, chatter_tokens, tipper_token, seconds, direct=True,
                join_rate=JOIN_RATE, py_spy=None):
    import redis as redis_lib
    import redis.asyncio as redis_async
    import websockets

    variant.start(base_env, redis.url)
    time.sleep(2)
    daphne_pids = [p.pid for p in variant.procs]
    redis_pid = int(Path(redis.workdir, "redis.pid").read_text())
    # Warm each process (imports, pools) with one viewer before the memory baseline.
    halves = [[], []]
    for i, token in enumerate(viewer_tokens):
        halves[i % 2].append((variant.url(i % 2), token))
    ctx = multiprocessing.get_context("fork")
    rss_before = [rss_kib(pid) for pid in daphne_pids]
    pipes, workers = [], []
    for half in halves:
        parent, child = ctx.Pipe()
        # Each client process holds half the viewers and joins them at half the rate.
        worker = ctx.Process(target=client_process, args=(half, stream_id, variant.app, child, 2 / join_rate), daemon=True)
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    started = time.time()
    join_retries = 0
    for pipe in pipes:
        kind, value = pipe.recv()
        if kind != "ready":
            variant.stop()
            raise RuntimeError(f"{variant.name}: viewers could not join: {value} (server logs: {getattr(variant, 'logs', '')})")
        join_retries += value[1]
    connect_s = time.time() - started
    print(f"   {variant.name}: {len(viewer_tokens)} viewers joined in {connect_s:.0f} s ({join_retries} retried joins)", flush=True)
    time.sleep(3)  # settle: count pushes, presence writes
    rss_after = [rss_kib(pid) for pid in daphne_pids]

    sent = {"chat": 0, "tip": 0}
    stop = threading.Event()
    ready = threading.Event()
    go = threading.Event()

    async def chatter():
        sockets = []
        if variant.app and not direct:
            for n, token in enumerate(chatter_tokens):
                port = variant.ports[n % 2]
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/", subprotocols=["digis.bearer", token],
                                              origin=f"http://127.0.0.1:{port}", max_queue=None)
                await ws.send(json.dumps({"type": "live.join", "stream_id": stream_id}))
                sockets.append(ws)

            async def drain(ws):  # read everything so the chatters' own sockets never back up
                try:
                    async for _ in ws:
                        pass
                except Exception:
                    pass

            drains = [asyncio.ensure_future(drain(ws)) for ws in sockets]
        elif variant.app and direct:
            pass
        else:
            client = redis_async.Redis.from_url(redis.url)
        publish = room_publisher(variant, redis.url, stream_id) if (variant.app and direct) else None
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.02)
        next_at = time.time()
        n = 0
        while not stop.is_set():
            n += 1
            text = f"t={time.time():.6f} chat {n}"
            if publish is not None:
                await publish({"type": "live.chat", "stream_id": stream_id,
                               "message": {"id": n, "text": text, "created_at": datetime.now(dt_timezone.utc).isoformat()}})
            elif sockets:
                await sockets[n % len(sockets)].send(json.dumps({"type": "live.chat", "stream_id": stream_id, "text": text,
                                                                 "client_key": f"c{variant.name}{n}"}))
            else:
                await client.publish("bench:room", json.dumps({"type": "live.chat", "message": {
                    "id": n, "text": text, "created_at": datetime.now(dt_timezone.utc).isoformat()}}, separators=(",", ":")))
            sent["chat"] += 1
            next_at += CHAT_EVERY_S
            await asyncio.sleep(max(0, next_at - time.time()))
        for ws in sockets:
            await ws.close()
        if sockets:
            await asyncio.gather(*drains, return_exceptions=True)

    def tipper():
        client = None if variant.app else redis_lib.Redis.from_url(redis.url)
        n = 0
        next_at = time.time()
        publish = room_publisher(variant, redis.url, stream_id) if (variant.app and direct) else None
        loop = asyncio.new_event_loop() if publish else None
        while not stop.is_set():
            n += 1
            body = {"amount": 1, "message": f"t={time.time():.6f} tip {n}", "client_key": f"t{variant.name}{n}"}
            if publish is not None:
                loop.run_until_complete(publish({"type": "live.tip", "stream_id": stream_id, "tip": {
                    "amount": 1, "message": body["message"], "created_at": datetime.now(dt_timezone.utc).isoformat()}}))
            elif client is None:
                post_json(variant.ports[n % 2], f"/api/streams/{stream_id}/tips/", tipper_token, body)
            else:
                client.publish("bench:room", json.dumps({"type": "live.tip", "tip": {
                    "amount": 1, "message": body["message"], "created_at": datetime.now(dt_timezone.utc).isoformat()}},
                    separators=(",", ":")))
            sent["tip"] += 1
            next_at += TIP_EVERY_S
            time.sleep(max(0, next_at - time.time()))
        if loop is not None:
            loop.close()  # here, in its own thread: the layer flushes its connections on close

    chat_thread = threading.Thread(target=lambda: asyncio.run(chatter()), daemon=True)
    chat_thread.start()
    if not ready.wait(120):
        raise RuntimeError(f"{variant.name}: the chatters did not connect")
    time.sleep(2)
    for pipe in pipes:
        pipe.send("measure")
    client_pids = [w.pid for w in workers]
    cpu_before = cpu_ms(daphne_pids)
    redis_before = cpu_ms([redis_pid])
    client_before = cpu_ms(client_pids)
    t0 = time.time()
    go.set()
    profiler = None
    if py_spy:
        # py-spy samples the first web process for the measured window without pausing it (--nonblocking);
        # the raw collapsed stacks feed flamegraph.pl or speedscope. The sampler's own CPU is not counted above.
        profile = f"{py_spy}-{variant.name}.txt"
        profiler = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(daphne_pids[0]),
                                     "--duration", str(int(seconds)), "--rate", "100", "--nonblocking", "--format", "raw",
                                     "-o", str(profile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"   {variant.name}: measuring for {seconds:.0f} s", flush=True)
    tip_thread = threading.Thread(target=tipper, daemon=True)
    tip_thread.start()
    time.sleep(seconds)
    stop.set()
    chat_thread.join(10)
    tip_thread.join(30)
    time.sleep(1.5)  # deliveries still in flight count
    window = time.time() - t0
    if profiler is not None:
        try:
            profiler.wait(timeout=30)
            print(f"   {variant.name}: profile of web process {daphne_pids[0]} in {profile}", flush=True)
        except subprocess.TimeoutExpired:
            profiler.kill()
    cpu_spent = cpu_ms(daphne_pids) - cpu_before
    redis_spent = cpu_ms([redis_pid]) - redis_before
    client_spent = cpu_ms(client_pids) - client_before
    load_after = open("/proc/loadavg").read().split()[0]
    latencies, chat_latencies, tip_latencies, from_stored = [], [], [], []
    for pipe in pipes:
        pipe.send("stop")
    for pipe in pipes:
        kind, (values, chats, tips, stored) = pipe.recv()
        from_stored.extend(stored)
        latencies.extend(values)
        chat_latencies.extend(chats)
        tip_latencies.extend(tips)
    for worker in workers:
        worker.join(30)
    variant.stop()
    viewers = len(viewer_tokens)
    expected = (sent["chat"] + sent["tip"]) * viewers
    delivered = len(latencies)
    return {
        "name": variant.name,
        "viewers": viewers,
        "connect_s": connect_s,
        "join_retries": join_retries,
        "sent_chat": sent["chat"],
        "sent_tip": sent["tip"],
        "delivered": delivered,
        "missed": max(0, expected - delivered),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
        # Chat and tips apart: end to end they take different paths (a socket event, an HTTP request with the ledger).
        "chat_p50": percentile(chat_latencies, 50),
        "chat_p99": percentile(chat_latencies, 99),
        "tip_p50": percentile(tip_latencies, 50),
        "tip_p99": percentile(tip_latencies, 99),
        "stored_n": len(from_stored),
        "stored_p50": percentile(from_stored, 50),
        "stored_p99": percentile(from_stored, 99),
        "rss_per_conn_kib": sum(a - b for a, b in zip(rss_after, rss_before)) / viewers,
        "rss_after_mib": [round(r / 1024) for r in rss_after],
        "cpu_per_msg_us": cpu_spent * 1000 / delivered if delivered else float("nan"),
        "redis_cpu_per_msg_us": redis_spent * 1000 / delivered if delivered else float("nan"),
        "cpu_pct": cpu_spent / (window * 1000) * 100,
        "client_cpu_per_msg_us": client_spent * 1000 / delivered if delivered else float("nan"),
        "client_cpu_pct": client_spent / (window * 1000) * 100,
        "load_after": load_after,
        "window_s": window,
    }


def seed(viewers: int):
    from django.db import connections

    from accounts.models import User
    from accounts.tokens import issue_token_pair
    from creators.services import ensure_creator_profile
    from ledger.services import credit_purchase
    from streaming.services import go_live

    run = secrets.token_hex(3)  # a database may be reused (--database-url): names unique per run
    host = User.objects.create(username=f"{run}host", email=f"{run}host@bench.test", role="creator", password="!")
    ensure_creator_profile(user=host)
    people = [User(username=f"{run}viewer{n}", email=f"{run}viewer{n}@bench.test", password="!") for n in range(viewers)]
    User.objects.bulk_create(people, batch_size=2000)
    chatters = [User.objects.create(username=f"{run}chatter{n}", email=f"{run}chatter{n}@bench.test", password="!") for n in range(CHATTERS)]
    tipper = User.objects.create(username=f"{run}tipper", email=f"{run}tipper@bench.test", password="!")
    credit_purchase(user=tipper, tokens=1_000_000, idempotency_key=f"bench-tipper-{run}", reference="bench")
    stream = go_live(host=host, title="Bench room")
    tokens = [issue_token_pair(user=u)["access"] for u in User.objects.filter(username__startswith=f"{run}viewer").order_by("username")]
    chatter_tokens = [issue_token_pair(user=chatter)["access"] for chatter in chatters]
    tipper_token = issue_token_pair(user=tipper)["access"]
    connections.close_all()
    return str(stream.pk), tokens, chatter_tokens, tipper_token


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--modes", default="process,group,pubsub")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--end-to-end", action="store_true",
                        help="chat over the chatters' sockets and tips over HTTP (the whole path: handling, database, ledger) "
                        "instead of publishing the room events the way the servers receive them (the fan-out alone)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--join-rate", type=float, default=JOIN_RATE, help="viewers joining per second, in all")
    parser.add_argument("--py-spy", metavar="PREFIX", help="sample the first web process with py-spy (requirements-dev.txt) "
                        "during each measured window; PREFIX-<variant>.txt gets raw collapsed stacks")
    parser.add_argument("--database-url", help="use this already migrated, empty PostgreSQL database instead of starting one "
                        "(migrating from scratch takes minutes on a loaded machine)")
    parser.add_argument("--bare-server", nargs=2, metavar=("PORT", "REDIS_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(int(args.bare_server[0]), args.bare_server[1])
        return

    pg = None if args.database_url else Postgres(durable=False, max_connections=300, prefix="digis-bench-live-").start()
    database_url = args.database_url or pg.url
    redis = Redis().start()
    try:
        base_env = dict(
            os.environ,
            DATABASE_URL=database_url, REDIS_URL=redis.url, DEBUG="false", SECRET_KEY=secrets.token_hex(40),
            ALLOWED_HOSTS="127.0.0.1,testserver", SECURE_SSL_REDIRECT="false", LOG_LEVEL="WARNING",
            RATELIMIT_ENABLE="false", LIVE_CHAT_RATE_COUNT="1000000", LIVE_TIP_MAX="1000", DB_POOL_MAX_SIZE="16",
            PYTHONPATH=f"{ROOT / 'bench'}:{ROOT}", DJANGO_SETTINGS_MODULE="live_settings",
        )
        os.environ.update({k: v for k, v in base_env.items() if k != "DJANGO_SETTINGS_MODULE"})
        os.environ["DJANGO_SETTINGS_MODULE"] = "digis.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        stream_id, tokens, chatter_tokens, tipper_token = seed(args.viewers)
        variants = {
            "process": Variant("process", {"REALTIME_ROOM_FANOUT": "process"}),
            "group": Variant("group", {"REALTIME_ROOM_FANOUT": "group"}),
            "pubsub": Variant("pubsub", {"REALTIME_ROOM_FANOUT": "group", "BENCH_DEFAULT_LAYER": "pubsub"}),
        }
        chosen = [variants[name] for name in args.modes.split(",") if name]
        if not args.no_baseline:
            chosen.append(Variant("bare", {}, app=False))
        results = []
        for variant in chosen:
            load = open("/proc/loadavg").read().split()[0]
            print(f"-- {variant.name} (load {load})", flush=True)
            result = run_variant(variant, base_env=base_env, redis=redis, stream_id=stream_id, viewer_tokens=tokens,
                                 chatter_tokens=chatter_tokens, tipper_token=tipper_token, seconds=args.seconds,
                                 direct=not args.end_to_end, join_rate=args.join_rate, py_spy=args.py_spy)
            result["load"] = load
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        redis.stop()
        if pg is not None:
            pg.stop()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    header = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, {os.cpu_count()} CPUs shared with other "
              f"engineers' runs, {args.viewers} viewers over 2 processes, chat every {int(CHAT_EVERY_S * 1000)} ms + tip every "
              f"{TIP_EVERY_S:.0f} s for {args.seconds:.0f} s, "
              + ("end to end (chat over sockets, tips over HTTP)" if args.end_to_end else "room events published the way the servers receive them (the fan-out alone)"))
    rows = ["| variant | load at start / end | p50 ms | p99 ms | max ms | chat p50 / p99 ms | tip p50 / p99 ms | from stored p50 / p99 ms | delivered | missed | "
            "RSS per connection | server CPU per delivery | Redis CPU per delivery | server CPU | client CPU per receipt | client CPU |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        rss = f"{r['rss_per_conn_kib']:.0f} KiB" if r["name"] != "bare" else f"{r['rss_per_conn_kib']:.0f} KiB (websockets server)"
        rows.append(f"| {r['name']} | {r['load']} / {r['load_after']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | "
                    f"{r['chat_p50']:.1f} / {r['chat_p99']:.1f} | {r['tip_p50']:.1f} / {r['tip_p99']:.1f} | "
                    f"{r['stored_p50']:.1f} / {r['stored_p99']:.1f} | {r['delivered']} | "
                    f"{r['missed']} | {rss} | {r['cpu_per_msg_us']:.1f} µs | {r['redis_cpu_per_msg_us']:.2f} µs | {r['cpu_pct']:.0f} % | "
                    f"{r['client_cpu_per_msg_us']:.1f} µs | {r['client_cpu_pct']:.0f} % |")
    body = f"{SECTION}\n\n{header}.\n\n" + "\n".join(rows) + "\n"
    for r in results:
        # The issue's target (p99 under 100 ms) is the room's fan-out: alone (events published as the servers
        # receive them), or under the real chat and tips, timed from each event's stored time. Send-to-receive
        # (the sender's request or socket event included) is a figure beside it.
        target = r["name"] == "process"
        label = f"{r['viewers']:,} viewers over 2 processes ({r['name']}, load {r['load']})"
        if args.end_to_end:
            record_target("live", f"room fan-out p99 under real chat (socket) and tips (HTTP), from the stored time, {label}",
                          f"{r['stored_p99']:.0f} ms, {r['missed']} missed", "< 100 ms" if target else "-",
                          (r["stored_p99"] < 100 and r["missed"] == 0) if target else None)
            record_target("live", f"room send-to-receive p99, chat / tips, {label}",
                          f"{r['chat_p99']:.0f} / {r['tip_p99']:.0f} ms", "-", None)
        else:
            record_target("live", f"room fan-out p99, events published as the servers receive them, {label}",
                          f"{r['p99']:.0f} ms, {r['cpu_per_msg_us']:.0f} µs CPU/delivery, {r['missed']} missed",
                          "< 100 ms" if target else "-", (r["p99"] < 100 and r["missed"] == 0) if target else None)
    print(body)
    if not args.no_write:
        print("written to", write_results_section(SECTION, body))


if __name__ == "__main__":
    main()
