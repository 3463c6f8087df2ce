#!/usr/bin/env python3
"""Realtime messaging under load: 500 sockets on 2 daphne processes, 50 conversations talking,
side by side with a bare `websockets` echo server, and a broadcast to 5,000 followers.

    make bench ARGS=realtime
    .venv/bin/python bench/realtime.py [--clients 500] [--conversations 50] [--seconds 10] [--rounds 3]
                                       [--workers 2] [--followers 5000] [--rate 100] [--price N] [--fast]
                                       [--no-write] [--logs DIR] [--py-spy PREFIX]

Starts its own PostgreSQL (production durability unless --fast) and Redis on
loopback (bench/servers.py), migrates, seeds people, conversations and a
creator with --followers followers, and starts --workers daphne processes
(DEBUG=false, Redis channel layer and cache, pooled connections) and a Celery
worker, as production runs them. Each socket signs in with a bearer token
(the ["digis.bearer", token] subprotocol pair). Then, round by round,
interleaved so machine noise hits every target alike, --clients sockets are
connected (split evenly over the daphne processes, as a load balancer would)
and the --conversations pairs talk for --seconds, to each target in turn:

    echo      a bare `websockets` echo server (--workers processes): a message
              sent, the same bytes back to the sender. The floor of a Python
              WebSocket server on this machine.
    ping      Digis's socket round trip: {"type": "ping"} -> "pong" (daphne,
              Channels, the presence TTL touched in Redis).
    typing    messages.typing from one person to the other: checked against the
              database (a participant?), relayed through Redis, stored nowhere.
    message   messages.send: the whole service (inbox locks, insert, unread
              pointers, the notification row, commit) and message.new pushed to
              both people through Redis after commit. Free messages, or with
              --price N paid ones (held in the ledger's escrow; the creator's
              answers release them).

in two phases each round:

    closed    each pair keeps one message in flight, answering what it
              receives: the most the server does (messages/s, and messages
              per server CPU-second against the echo server's, the "per core"
              target). Latency here is queueing, about conversations /
              throughput once the server is saturated: it says how long the
              queue is, not what a person sees at a realistic load.
    open      --rate messages per second in all (default 100), sent on a fixed
              schedule whatever comes back, round-robin over the pairs (each
              pair every conversations / rate seconds, its two people taking
              turns): the latency a person sees at that load, the echo server
              driven at the same rate beside it. Every send of the window is
              waited for (up to 30 s after it); one that never arrives is
              reported as lost. The "p99 under 50 ms" target is judged here.

Latency is send -> the other side's receipt (echo and ping: the round trip to
the sender), measured in the client process on one monotonic clock. Messages/s
counts receipts. "Per core" divides by the CPU seconds the serving processes
used meanwhile (daphne, PostgreSQL, Redis; the echo server's for echo), read
from /proc, so the load generator's own CPU on the shared cores is not charged
to the server; the CPU per message above the idle floor is also split by part
(daphne / PostgreSQL / Redis). The other --clients - 2 x --conversations
sockets stay connected and idle (their groups exist; the server holds them).
--py-spy PREFIX samples the first daphne process during each Digis target's
first closed-loop round into PREFIX-<target>.txt (py-spy's raw format; py-spy
is in requirements-dev.txt).

Last, the broadcast: POST /api/broadcasts/ as the creator with --followers
followers, timed until every copy is stored (the broadcast reads "done") and
until a sample of followers' open sockets have received it.

Results print and go to the "## Realtime: messaging" section of bench/RESULTS.md
with the date, the load average and the commit (not with --no-write).
"""

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres, Redis, free_port, record_target, wait_for_port, write_results_section  # noqa: E402  (bench/ is on sys.path when run as a script)
PY = str(ROOT / ".venv" / "bin" / "python")
DAPHNE = str(ROOT / ".venv" / "bin" / "daphne")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
SECTION = "## Realtime: messaging"

SEED = r"""
import json, os
from accounts.models import User
from accounts.tokens import issue_token_pair
from creators.models import CreatorProfile, Follow
from messaging.models import Conversation
clients = int(os.environ["BENCH_CLIENTS"]); pairs = int(os.environ["BENCH_CONVERSATIONS"])
followers = int(os.environ["BENCH_FOLLOWERS"]); price = int(os.environ["BENCH_PRICE"])
people = [User(username=f"rt{n}", email=f"rt{n}@bench.test", password="!", role="creator" if n < pairs else "fan")
          for n in range(clients)]
User.objects.bulk_create(people, batch_size=1000)
CreatorProfile.objects.bulk_create([CreatorProfile(user=people[n], display_name=f"Creator {n}", message_price=price)
                                    for n in range(pairs)])
conversations = Conversation.objects.bulk_create([Conversation(fan=people[pairs + n], creator=people[n]) for n in range(pairs)])
star = User.objects.create(username="star", email="star@bench.test", password="!", role="creator")
CreatorProfile.objects.create(user=star, display_name="Star", message_price=price)
fans = [User(username=f"fan{n}", email=f"fan{n}@bench.test", password="!") for n in range(followers)]
User.objects.bulk_create(fans, batch_size=2000)
Follow.objects.bulk_create([Follow(follower=fan, creator_id=star.pk) for fan in fans], batch_size=2000)
if price:
    from ledger.services import grant_promotion
    for n in range(pairs):
        grant_promotion(user=people[pairs + n], tokens=10**7, idempotency_key=f"bench-grant-{n}")
out = {
    "tokens": [issue_token_pair(user=user)["access"] for user in people],
    "conversations": [str(c.pk) for c in conversations],
    "star": issue_token_pair(user=star)["access"],
    "follower_tokens": [issue_token_pair(user=fan)["access"] for fan in fans[:: max(1, followers // 20)]],
}
with open(os.environ["BENCH_SEED_OUT"], "w") as fh:
    json.dump(out, fh)
from django.db import connection
with connection.cursor() as c:
    c.execute("ANALYZE")
print(f"seeded {clients} people, {pairs} conversations, a creator with {followers} followers")
"""

ECHO_SERVER = r"""
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main(port):
    async with serve(echo, "127.0.0.1", port, max_queue=None, compression=None):
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1])))
"""


# --- measuring ---------------------------------------------------------------------------


def cpu_seconds(pids) -> float:
    """utime + stime of the processes (all their threads), in seconds; gone processes count 0."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_by_part(parts: dict) -> dict:
    """{part: CPU seconds so far} for {part: pids} (pids re-read on each use: see ``Pids``)."""
    return {part: cpu_seconds(pids) for part, pids in parts.items()}


def children(pid) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):  # a process that ended while we looked
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --- the load client ---------------------------------------------------------------------


class Socket:
    def __init__(self, ws):
        self.ws = ws
        self.handler = None

    async def pump(self):
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                if self.handler is not None:
                    self.handler(raw)
        except ConnectionClosed:
            pass


async def keep_alive(ws):
    """Ping every 25 s as the site's realtime.js does: it keeps the person "online" (presence
    TTL), which decides who gets a broadcast pushed. Its pong carries no ref; targets ignore it."""
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            await asyncio.sleep(25)
            await ws.send('{"type": "ping"}')
    except ConnectionClosed:
        pass


async def open_sockets(urls_and_tokens, *, bearer: bool):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidMessage

    refused = []

    async def one(url, token):
        kwargs = {"max_queue": None, "compression": None, "open_timeout": 60, "ping_interval": None}
        if bearer:
            # The site's own origin, port included (digis.realtime.origin refuses any other).
            kwargs.update(subprotocols=["digis.bearer", token], origin=url.replace("ws://", "http://").removesuffix("/ws/"))
        for attempt in range(5):
            try:
                ws = await connect(url, **kwargs)
                break
            except (OSError, InvalidHandshake, InvalidMessage) as exc:
                # daphne closes a handshake the application has not accepted within
                # --websocket_connect_timeout (5 s): on a loaded machine, try again, as a browser would.
                refused.append(type(exc).__name__)
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            raise RuntimeError(f"could not connect to {url} after 5 attempts")
        sock = Socket(ws)
        loop = asyncio.get_running_loop()
        loop.create_task(sock.pump())
        if bearer:
            loop.create_task(keep_alive(ws))
        return sock

    sockets = []
    # Connect in waves: a real crowd does not arrive in the same millisecond.
    for start in range(0, len(urls_and_tokens), 20):
        sockets += await asyncio.gather(*(one(url, token) for url, token in urls_and_tokens[start:start + 20]))
    if refused:
        print(f"  {len(refused)} handshakes retried ({', '.join(sorted(set(refused)))})", flush=True)
    return sockets


async def close_sockets(sockets):
    await asyncio.gather(*(s.ws.close() for s in sockets), return_exceptions=True)


async def run_target(target, sockets, pairs, conversations, *, seconds, server_pids, rate=None):
    """One target for ``seconds``; returns a dict (latencies ms, receipts, sent, elapsed s, server CPU s by part, errors).

    Closed loop (``rate`` None): each pair keeps one message in flight, answering what it
    receives: the most the server can do, and latency there is mostly queueing (pairs /
    throughput). Receipts count while the window is open.

    Open loop (``rate`` R): R sends per second in all, on a fixed schedule whatever comes
    back, spread round-robin over the pairs (each pair sends every pairs/R seconds, its two
    people taking turns for typing and messages): the latency a person sees at that load.
    Every send of the window counts, its receipt waited for after the window too (up to 30 s);
    one that never arrives is reported as lost.

    Server CPU is read over the send window only (in the open loop the last sends' work may
    spill past it; at a steady rate that is what earlier sends carried into the window)."""
    from collections import deque

    loop = asyncio.get_running_loop()
    latencies, errors = [], []
    state = {"stop": False, "seq": 0, "sent": 0, "window_open": True}
    sent_at = {}
    # Typing events carry nothing of the sender's: a receiver's typing receipts answer its sends in order.
    typing_sent = {}

    def next_id():
        state["seq"] += 1
        return state["seq"]

    def send(sock, conversation_id, receiver_index):
        """Send the target's message from ``sock``; its receipt is expected at ``receiver_index``."""
        n = next_id()
        now = loop.time()
        if state["window_open"]:
            state["sent"] += 1
        if target == "echo":
            sent_at[n] = now
            payload = json.dumps({"n": n, "text": "hello there"})
        elif target == "ping":
            sent_at[n] = now
            payload = json.dumps({"type": "ping", "ref": str(n)})
        elif target == "typing":
            # Nothing comes back to the sender; the receipt is the other side's message.typing.
            typing_sent.setdefault(receiver_index, deque()).append(now)
            payload = json.dumps({"type": "messages.typing", "conversation_id": conversation_id,
                                  "state": "start" if n % 2 else "stop"})
        else:
            sent_at[n] = now
            payload = json.dumps({"type": "messages.send", "conversation_id": conversation_id,
                                  "client_message_id": f"b{n}-{secrets.token_hex(4)}", "text": f"bench {n}"})
        loop.create_task(sock.ws.send(payload))

    def in_flight():
        return len(sent_at) + sum(len(q) for q in typing_sent.values())

    def make_handler(index, partner_index, conversation_id):
        sock = sockets[index]

        def received(start, now):
            # Closed loop: what arrived within the window. Open loop: every send of the window, whenever it arrives.
            if rate is None and state["stop"]:
                return
            if rate is not None and start > state.get("window_end", float("inf")):
                return
            latencies.append((now - start) * 1000)
            if rate is None and not state["stop"]:
                # Answer what arrived (echo, ping: send again): one message in flight per pair.
                send(sock, conversation_id, partner_index)

        def handle(raw):
            event = json.loads(raw)
            now = loop.time()
            if target == "echo":
                start = sent_at.pop(event.get("n"), None)
                if start is not None:
                    received(start, now)
                return
            kind = event.get("type")
            if kind == "error":
                errors.append(event.get("code"))
                return
            if target == "ping" and kind == "pong" and event.get("ref"):
                start = sent_at.pop(int(event["ref"]), None)
                if start is not None:
                    received(start, now)
            elif target == "typing" and kind == "message.typing":
                pending = typing_sent.get(index)
                if pending:
                    received(pending.popleft(), now)
            elif target == "message" and kind == "message.new" and not event["message"]["mine"]:
                start = sent_at.pop(int(event["message"]["text"].split()[1]), None)
                if start is not None:
                    received(start, now)

        return handle

    for sock in sockets:
        sock.handler = None
    for pair_no, (fan_index, creator_index) in enumerate(pairs):
        conversation_id = conversations[pair_no]
        if target in ("echo", "ping"):
            # One round-tripping client per pair: as many messages in flight as in the others.
            sockets[fan_index].handler = make_handler(fan_index, fan_index, conversation_id)
        else:
            sockets[fan_index].handler = make_handler(fan_index, creator_index, conversation_id)
            sockets[creator_index].handler = make_handler(creator_index, fan_index, conversation_id)

    cpu_before = cpu_by_part(server_pids)
    started = loop.time()
    if rate is None:
        for pair_no, (fan_index, creator_index) in enumerate(pairs):
            receiver = fan_index if target in ("echo", "ping") else creator_index
            send(sockets[fan_index], conversations[pair_no], receiver)
        await asyncio.sleep(seconds)
    else:
        # A fixed schedule: send k at started + k / rate. A late client catches up (sends
        # in a burst) rather than stretching the schedule, so the offered load stays R.
        k = 0
        while True:
            due = started + k / rate
            if due - started >= seconds:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pair_no = k % len(pairs)
            fan_index, creator_index = pairs[pair_no]
            if target in ("echo", "ping") or (k // len(pairs)) % 2 == 0:
                sender, receiver = fan_index, (fan_index if target in ("echo", "ping") else creator_index)
            else:
                sender, receiver = creator_index, fan_index
            send(sockets[sender], conversations[pair_no], receiver)
            k += 1
        state["window_end"] = loop.time()
        await asyncio.sleep(max(0.0, started + seconds - loop.time()))
    state["window_open"] = False
    if rate is None:
        state["stop"] = True
        received = len(latencies)
    elapsed = loop.time() - started
    cpu = {part: after - cpu_before[part] for part, after in cpu_by_part(server_pids).items()}
    # Let what is in flight land (open loop: counted; closed loop: not) before the next target starts.
    drain_until = loop.time() + 30
    while loop.time() < drain_until and in_flight():
        await asyncio.sleep(0.2)
    lost = in_flight() if rate is not None else 0
    state["stop"] = True
    await asyncio.sleep(0.5)
    if rate is not None:
        received = len(latencies)
    return {"lat": latencies[:received], "n": received, "sent": state["sent"], "time": elapsed, "cpu": cpu,
            "errors": errors, "lost": lost}


# --- the run -------------------------------------------------------------------------------


def http(method, url, token, body=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                              "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


async def broadcast(ports, seed, *, followers):
    """POST a broadcast to --followers followers; time until stored for all and received by sampled sockets."""
    urls = [(f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/", token) for i, token in enumerate(seed["follower_tokens"])]
    sample = await open_sockets(urls, bearer=True)
    loop = asyncio.get_running_loop()
    arrivals = []
    for sock in sample:
        def handle(raw, sock=sock):
            if json.loads(raw).get("type") == "message.new":
                arrivals.append(loop.time())
        sock.handler = handle
    await asyncio.sleep(1)
    base = f"http://127.0.0.1:{ports[0]}"
    started = loop.time()
    status, body = await asyncio.to_thread(http, "POST", f"{base}/api/broadcasts/", seed["star"],
                                           {"text": "Thank you all!", "audience": "followers"})
    accepted = loop.time()
    assert status == 202, body
    done_at = None
    while loop.time() - started < 900:
        _, state = await asyncio.to_thread(http, "GET", f"{base}/api/broadcasts/{body['id']}/", seed["star"])
        if state["status"] == "done":
            done_at = loop.time()
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    await close_sockets(sample)
    return {
        "accepted_ms": (accepted - started) * 1000,
        "done_s": (done_at - started) if done_at else float("nan"),
        "delivered": state["delivered_count"],
        "recipients": state["recipient_count"],
        "sampled": len(sample),
        "sample_received": len(arrivals),
        "last_sample_s": (max(arrivals) - started) if arrivals else float("nan"),
    }


async def load(args, ports, echo_ports, seed, server_parts, echo_parts, daphne_pids=()):
    tokens = seed["tokens"]
    pairs = [(args.conversations + n, n) for n in range(args.conversations)]  # (fan index, creator index)
    digis_urls = [(f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/", token) for i, token in enumerate(tokens)]
    # A pair's two people on different processes (the push crosses Redis), as a balancer would place them.
    echo_urls = [(f"ws://127.0.0.1:{echo_ports[i % len(echo_ports)]}/", None) for i in range(len(tokens))]
    print(f"connecting {len(tokens)} sockets to daphne ...", flush=True)
    digis_sockets = await open_sockets(digis_urls, bearer=True)
    echo_sockets = await open_sockets(echo_urls, bearer=False)
    print(f"connected {len(digis_sockets)} + {len(echo_sockets)} (echo) sockets", flush=True)
    await asyncio.sleep(2)
    targets = ["echo", "ping", "typing", "message"]
    # Closed loop (the most the server does) and, with --rate, open loop at that fixed rate.
    phases = [("closed", None)] + ([("open", float(args.rate))] if args.rate > 0 else [])
    results = {(phase, t): {"lat": [], "n": 0, "sent": 0, "lost": 0, "time": 0.0, "cpu": {}, "errors": []}
               for phase, _ in phases for t in targets}
    # Warm-up, not measured: code paths, pools, plan caches.
    for target in targets:
        socks, parts = (echo_sockets, echo_parts) if target == "echo" else (digis_sockets, server_parts)
        await run_target(target, socks, pairs, seed["conversations"], seconds=3, server_pids=parts)
    # What the serving processes burn with every socket connected and nobody talking (keep-alive pings,
    # the channel layer's polling, PostgreSQL's and Redis' housekeeping): the floor under every target.
    idle_before = cpu_by_part(server_parts)
    idle_started = asyncio.get_running_loop().time()
    await asyncio.sleep(args.seconds)
    idle_time = asyncio.get_running_loop().time() - idle_started
    idle = {part: (after - idle_before[part]) / idle_time for part, after in cpu_by_part(server_parts).items()}
    print(f"idle: server CPU {sum(idle.values()):.2f} cores with {len(tokens)} sockets connected "
          f"({', '.join(f'{part} {cores:.2f}' for part, cores in idle.items())})", flush=True)
    for round_no in range(args.rounds):
        for phase, rate in phases:
            for target in targets:
                socks, parts = (echo_sockets, echo_parts) if target == "echo" else (digis_sockets, server_parts)
                spy = None
                if args.py_spy and round_no == 0 and phase == "closed" and target != "echo":
                    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(daphne_pids[0]),
                                            "--rate", "200", "--nonblocking", "--format", "raw",
                                            "--output", f"{args.py_spy}-{target}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                run = await run_target(target, socks, pairs, seed["conversations"], seconds=args.seconds, server_pids=parts,
                                       rate=rate)
                if spy is not None:
                    spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
                    await asyncio.to_thread(spy.wait, 30)
                data = results[(phase, target)]
                for key in ("lat", "n", "sent", "lost", "time", "errors"):
                    data[key] += run[key]
                for part, seconds in run["cpu"].items():
                    data["cpu"][part] = data["cpu"].get(part, 0.0) + seconds
                cpu = sum(run["cpu"].values())
                label = "closed" if rate is None else f"open {rate:g}/s"
                print(f"round {round_no + 1} {label:12s} {target:8s} {run['n'] / run['time']:8.0f} msg/s ({run['sent']} sent"
                      f"{', ' + str(run['lost']) + ' lost' if run['lost'] else ''})  p50 {percentile(run['lat'], .5):6.1f} ms  "
                      f"p99 {percentile(run['lat'], .99):6.1f} ms  server CPU {cpu / max(run['time'], 1e-9):.2f} cores"
                      f"{'  errors: ' + str(len(run['errors'])) if run['errors'] else ''}", flush=True)
    await close_sockets(digis_sockets)
    await close_sockets(echo_sockets)
    if args.followers:
        print(f"broadcast to {args.followers} followers ...", flush=True)
        results["broadcast"] = await broadcast(ports, seed, followers=args.followers)
    results["idle"] = idle
    results["phases"] = phases
    return results


def migrate(pg, manage) -> None:
    """Migrate, or load the schema a previous run migrated with the same migration files.

    Migrating an empty database takes minutes on a busy machine (dj-stripe alone
    is hundreds of operations); the result is kept as a plain SQL dump in the
    temp directory, named by a hash of every migration file, so re-runs start fast.
    """
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")) + sorted((ROOT / ".venv").glob("lib/python*/site-packages/*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    dump = Path(tempfile.gettempdir()) / f"digis-bench-migrated-{digest.hexdigest()[:16]}.sql"
    connect = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "digis"]
    if dump.exists():
        print(f"loading the migrated schema from {dump} ...", flush=True)
        subprocess.run([f"{pg.bindir}/psql", *connect, "-q", "-v", "ON_ERROR_STOP=1", "-d", "digis", "-f", str(dump)],
                       check=True, stdout=subprocess.DEVNULL)
        return
    print("migrating ...", flush=True)
    manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
    partial = dump.with_suffix(".partial")
    subprocess.run([f"{pg.bindir}/pg_dump", *connect, "--no-owner", "-f", str(partial), "digis"], check=True)
    partial.rename(dump)


def restart_durable(pg) -> None:
    """Restart the cluster with PostgreSQL's defaults for fsync, synchronous_commit, full_page_writes."""
    options = (f"-c listen_addresses=127.0.0.1 -p {pg.port} -k {pg.data} -c max_connections={pg.max_connections} "
               "-c shared_buffers=256MB")
    pg.run(f"{pg.bindir}/pg_ctl", "-D", pg.data, "-m", "fast", "-w", "restart", "-o", options, stdout=subprocess.DEVNULL)
    settings = pg.settings()
    assert settings.get("fsync") == "on" and settings.get("synchronous_commit") == "on", settings


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="daphne processes (and echo server processes)")
    parser.add_argument("--followers", type=int, default=5000)
    parser.add_argument("--price", type=int, default=0, help="tokens per fan message (0: free messages)")
    parser.add_argument("--rate", type=float, default=100, help="the open-loop phase's messages per second, all "
                        "conversations together (0: closed loop only)")
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (default: production durability)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--logs", metavar="DIR", help="keep the servers' output (daphne, worker) in DIR")
    parser.add_argument("--py-spy", metavar="PREFIX", help="sample the first daphne process with py-spy (in "
                        "requirements-dev.txt) during each target's first closed-loop round: PREFIX-<target>.txt")
    args = parser.parse_args()
    if args.clients < 2 * args.conversations:
        sys.exit("--clients must be at least twice --conversations")

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    # Migrations and the seed run without fsync (minutes of DDL commits otherwise); the cluster is
    # then restarted with production durability for the measurement, unless --fast.
    pg = Postgres(durable=False, max_connections=200)
    redis = Redis()
    processes = []
    try:
        pg.start()
        redis.start()
        workdir = Path(pg.workdir)
        env = {
            **os.environ,
            "DATABASE_URL": pg.url, "REDIS_URL": redis.url, "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", "RATELIMIT_ENABLE": "false",
            "DIGIS_TESTING": "0", "DJANGO_SETTINGS_MODULE": "digis.settings", "JWT_ACCESS_MINUTES": "240",
            "LOG_LEVEL": "WARNING" if not args.logs else "INFO",
            "MESSAGE_RATE_PER_MINUTE": "1000000", "MESSAGE_BROADCASTS_PER_HOUR": "100",
            "BENCH_CLIENTS": str(args.clients), "BENCH_CONVERSATIONS": str(args.conversations),
            "BENCH_FOLLOWERS": str(args.followers), "BENCH_PRICE": str(args.price),
            "BENCH_SEED_OUT": str(workdir / "seed.json"),
        }
        manage = lambda *a, **kw: subprocess.run([PY, "manage.py", *a], cwd=ROOT, env=env, check=True, **kw)  # noqa: E731
        migrate(pg, manage)
        manage("collectstatic", "--noinput", stdout=subprocess.DEVNULL)
        print("seeding ...", flush=True)
        manage("shell", "-c", SEED)
        seed = json.loads((workdir / "seed.json").read_text())
        if not args.fast:
            restart_durable(pg)
        def output(name):
            if not args.logs:
                return subprocess.DEVNULL
            Path(args.logs).mkdir(parents=True, exist_ok=True)
            return open(Path(args.logs, f"{name}.log"), "w")

        worker = subprocess.Popen([CELERY, "-A", "digis", "worker", "--concurrency", "2", "--loglevel", "WARNING"], cwd=ROOT,
                                  env=env, stdout=output("worker"), stderr=subprocess.STDOUT)
        processes.append(worker)
        ports = [free_port() for _ in range(args.workers)]
        daphnes = [subprocess.Popen([DAPHNE, "-b", "127.0.0.1", "-p", str(port), "digis.asgi:application"], cwd=ROOT, env=env,
                                    stdout=output(f"daphne-{port}"), stderr=subprocess.STDOUT) for port in ports]
        processes += daphnes
        echo_ports = [free_port() for _ in range(args.workers)]
        echoes = [subprocess.Popen([PY, "-c", ECHO_SERVER, str(port)], cwd=ROOT, stdout=output(f"echo-{port}"),
                                   stderr=subprocess.STDOUT) for port in echo_ports]
        processes += echoes
        for port in ports + echo_ports:
            if not wait_for_port(port, seconds=60):
                sys.exit(f"nothing listens on {port}")
        # Serving processes for "per core": daphne, PostgreSQL (every backend), Redis.
        pg_master = int(Path(pg.data, "postmaster.pid").read_text().split()[0])
        redis_pid = int(Path(redis.workdir, "redis.pid").read_text())

        class Pids(list):
            """Re-read on each use: PostgreSQL starts a backend per new connection."""

            def __iter__(self):
                return iter([pg_master] + children(pg_master))

        # Each part's CPU on its own: where a message's server time goes.
        server_parts = {"daphne": [p.pid for p in daphnes], "postgres": Pids(), "redis": [redis_pid]}
        echo_parts = {"echo": [p.pid for p in echoes]}
        results = asyncio.run(load(args, ports, echo_ports, seed, server_parts, echo_parts, [p.pid for p in daphnes]))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.stop()
        pg.stop()
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    report(args, results, load_before, load_after)


def report(args, results, load_before, load_after):
    targets = ("echo", "ping", "typing", "message")
    idle = results["idle"]
    idle_cores = sum(idle.values())
    closed_echo = results[("closed", "echo")]
    echo_per_core = closed_echo["n"] / max(sum(closed_echo["cpu"].values()), 1e-9)

    def figures(phase, target):
        data = results[(phase, target)]
        rate = data["n"] / max(data["time"], 1e-9)
        cpu = sum(data["cpu"].values())
        busy = cpu / max(data["time"], 1e-9)
        # CPU per message above the idle floor (the echo server's own floor is ~0), and each part's share.
        floor = {} if target == "echo" else idle
        parts = {part: (seconds / max(data["time"], 1e-9) - floor.get(part, 0.0)) * 1000 / max(rate, 1e-9)
                 for part, seconds in data["cpu"].items()}
        return {
            "rate": rate, "offered": data["sent"] / max(data["time"], 1e-9), "lost": data["lost"],
            "p50": percentile(data["lat"], .5), "p99": percentile(data["lat"], .99), "max": max(data["lat"], default=float("nan")),
            "per_core": data["n"] / max(cpu, 1e-9), "busy": busy, "ms": sum(parts.values()), "parts": parts,
            "errors": len(data["errors"]),
        }

    def split(f, target):
        if target == "echo":
            return "-"
        return " / ".join(f"{f['parts'].get(part, 0.0):.2f}" for part in ("daphne", "postgres", "redis"))

    closed = {t: figures("closed", t) for t in targets}
    header = ("| target | msg/s | p50 ms | p99 ms | msg per server CPU-second | vs echo per core | server cores busy "
              "| server CPU ms per message above idle | of which daphne / PostgreSQL / Redis | errors |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = "\n".join(f"| {t} | {f['rate']:.0f} | {f['p50']:.1f} | {f['p99']:.1f} | {f['per_core']:.0f} | "
                      f"{f['per_core'] / echo_per_core:.3f} | {f['busy']:.2f} | {f['ms']:.2f} | {split(f, t)} | {f['errors']} |"
                      for t, f in closed.items())
    table += (f"\n\nIdle (every socket connected, nobody talking): the serving processes used {idle_cores:.2f} cores "
              f"({', '.join(f'{part} {cores:.2f}' for part, cores in idle.items())}).")
    open_table = ""
    opened = None
    if args.rate > 0:
        opened = {t: figures("open", t) for t in targets}
        open_table = (
            f"| target | offered msg/s | received msg/s | lost | p50 ms | p99 ms | max ms | server cores busy "
            f"| server CPU ms per message above idle | of which daphne / PostgreSQL / Redis | errors |\n"
            f"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            + "\n".join(f"| {t} | {f['offered']:.0f} | {f['rate']:.0f} | {f['lost']} | {f['p50']:.1f} | {f['p99']:.1f} | "
                        f"{f['max']:.1f} | {f['busy']:.2f} | {f['ms']:.2f} | {split(f, t)} | {f['errors']} |"
                        for t, f in opened.items())
        )
    broadcast_line = ""
    if "broadcast" in results:
        b = results["broadcast"]
        broadcast_line = (f"Broadcast to {b['recipients']} followers: accepted in {b['accepted_ms']:.0f} ms (queued, nothing "
                          f"delivered in the request); all {b['delivered']} copies stored {b['done_s']:.1f} s after the POST; "
                          f"{b['sample_received']} of {b['sampled']} sampled followers' open sockets got it, the last "
                          f"{b['last_sample_s']:.1f} s after the POST.")
    print("Closed loop (one message in flight per conversation: the most the server does):")
    print(header)
    print(table)
    if open_table:
        print(f"Open loop ({args.rate:g} msg/s in all, on a fixed schedule):")
        print(open_table)
    if broadcast_line:
        print(broadcast_line)
    ratio = closed["message"]["per_core"] / echo_per_core
    if opened is not None:
        p99, where = opened["message"]["p99"], f"at {args.rate:g} msg/s (open loop; echo at the same rate: {opened['echo']['p99']:.1f} ms)"
        if opened["message"]["lost"]:
            where += f", {opened['message']['lost']} messages lost"
    else:
        p99, where = closed["message"]["p99"], "in the closed loop (saturated: queueing, not what a person sees)"
    p99_met = p99 < 50 and not (opened is not None and opened["message"]["lost"])
    verdict = (f"Targets: p99 {p99:.1f} ms for stored messages {where} ({'met' if p99_met else 'NOT met'}, < 50 ms); "
               f"{ratio:.3f}x the echo server's messages per core in the closed loop "
               f"({'met' if ratio >= 0.5 else 'NOT met'}, >= 0.5x).")
    print(verdict)
    record_target("realtime", f"stored message p99, {args.conversations} conversations"
                  + (f" at {args.rate:g} msg/s (open loop)" if opened is not None else " (closed loop)"),
                  f"{p99:.1f} ms", "< 50 ms", p99_met)
    record_target("realtime", "stored messages per server CPU-second vs the bare echo server (closed loop)",
                  f"{ratio:.3f}x ({closed['message']['ms']:.1f} ms CPU each)", ">= 0.5x", ratio >= 0.5)
    if args.no_write:
        return
    body = (
        f"{SECTION}\n\n"
        f"`make bench ARGS=realtime` (`bench/realtime.py --clients {args.clients} --conversations {args.conversations} "
        f"--seconds {args.seconds} --rounds {args.rounds} --workers {args.workers} --followers {args.followers} --rate {args.rate:g}"
        f"{f' --price {args.price}' if args.price else ''}{' --fast' if args.fast else ''}`), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit()}; load average before "
        f"{' '.join(load_before)}, after {' '.join(load_after)} ({os.cpu_count()} CPUs, shared with other engineers' "
        f"work unless the load says otherwise). {args.workers} daphne processes (DEBUG=false) and a Celery worker, "
        f"PostgreSQL ({'fsync off' if args.fast else 'production durability'}) and Redis on loopback; "
        f"{args.clients} sockets signed in by bearer token, split over the daphne processes, {args.conversations} "
        f"conversations talking, the rest idle; the same client process (Python `websockets`) drives a bare "
        f"`websockets` echo server ({args.workers} processes) in the same run, targets interleaved round by round. "
        f"Latency: send -> the other person's receipt (echo, ping: the round trip). Per core: receipts per CPU-second "
        f"of the serving processes (daphne + PostgreSQL + Redis; the echo server's own).\n\n"
        f"Closed loop (one message in flight per conversation: the most the server does; latency here is queueing, "
        f"about conversations / throughput):\n\n{header}\n{table}\n\n"
        + (f"Open loop ({args.rate:g} msg/s in all on a fixed schedule, round-robin over the conversations; every send "
           f"of the window waited for): what a person sees at that load.\n\n{open_table}\n\n" if open_table else "")
        + (f"{broadcast_line}\n\n" if broadcast_line else "")
        + f"{verdict}\n"
    )
    print(f"wrote {write_results_section(SECTION, body)}")


if __name__ == "__main__":
    main()
