#!/usr/bin/env python3
"""Realtime messaging under load: 500 sockets on 2 daphne processes, 50 conversations talking,
side by side with a bare `websockets` echo server, and a broadcast to 5,000 followers.

    make bench ARGS=realtime
    .venv/bin/python bench/realtime.py [--clients 500] [--conversations 50] [--seconds 10] [--rounds 3]
                                       [--workers 2] [--followers 5000] [--fast] [--no-write]

Starts its own PostgreSQL (production durability unless --fast) and Redis on
loopback (bench/servers.py), migrates, seeds people, conversations and a
creator with --followers followers, and starts --workers daphne processes
(DEBUG=false, Redis channel layer and cache, pooled connections) and a Celery
worker, as production runs them. Each socket signs in with a bearer token
(the ["digis.bearer", token] subprotocol pair). Then, round by round,
interleaved so machine noise hits every target alike, --clients sockets are
connected (split evenly over the daphne processes, as a load balancer would)
and the --conversations pairs talk in a closed loop (each side answers what it
receives, one message in flight per conversation) for --seconds:

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

Latency is send -> the other side's receipt (echo and ping: the round trip to
the sender), measured in the client process on one monotonic clock. Messages/s
counts receipts. "Per core" divides by the CPU seconds the serving processes
used meanwhile (daphne, PostgreSQL, Redis; the echo server's for echo), read
from /proc, so the load generator's own CPU on the shared cores is not charged
to the server. The other --clients - 2 x --conversations sockets stay
connected and idle (their groups exist; the server holds them).

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

from servers import Postgres, Redis, free_port, wait_for_port, write_results_section  # noqa: E402  (bench/ is on sys.path when run as a script)
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


async def run_target(target, sockets, pairs, conversations, *, seconds, server_pids):
    """Closed loop: each pair keeps one message in flight. Returns (latencies ms, receipts, elapsed s, server CPU s, errors)."""
    loop = asyncio.get_running_loop()
    latencies, errors = [], []
    state = {"stop": False, "seq": 0}
    sent_at = {}

    def next_id():
        state["seq"] += 1
        return state["seq"]

    def send(sock, conversation_id, receiver_index):
        """Send the target's message from ``sock``; its receipt is expected at ``receiver_index``."""
        n = next_id()
        now = loop.time()
        if target == "echo":
            sent_at[n] = now
            payload = json.dumps({"n": n, "text": "hello there"})
        elif target == "ping":
            sent_at[n] = now
            payload = json.dumps({"type": "ping", "ref": str(n)})
        elif target == "typing":
            # Nothing comes back to the sender; the receipt is the other side's message.typing.
            sent_at[("typing", receiver_index)] = now
            payload = json.dumps({"type": "messages.typing", "conversation_id": conversation_id,
                                  "state": "start" if n % 2 else "stop"})
        else:
            sent_at[n] = now
            payload = json.dumps({"type": "messages.send", "conversation_id": conversation_id,
                                  "client_message_id": f"b{n}-{secrets.token_hex(4)}", "text": f"bench {n}"})
        loop.create_task(sock.ws.send(payload))

    def make_handler(index, partner_index, conversation_id):
        sock = sockets[index]

        def received(start, now):
            latencies.append((now - start) * 1000)
            if not state["stop"]:
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
                start = sent_at.pop(("typing", index), None)
                if start is not None:
                    received(start, now)
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

    cpu_before = cpu_seconds(server_pids)
    started = loop.time()
    for pair_no, (fan_index, creator_index) in enumerate(pairs):
        receiver = fan_index if target in ("echo", "ping") else creator_index
        send(sockets[fan_index], conversations[pair_no], receiver)
    await asyncio.sleep(seconds)
    state["stop"] = True
    elapsed = loop.time() - started
    received = len(latencies)
    cpu = cpu_seconds(server_pids) - cpu_before
    # Let what is in flight land before the next target starts (it is not counted).
    drain_until = loop.time() + 30
    while loop.time() < drain_until and any(isinstance(key, tuple) or key for key in sent_at):
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    return latencies[:received], received, elapsed, cpu, errors, state["seq"]


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


async def load(args, ports, echo_ports, seed, server_pids, echo_pids, daphne_pids=()):
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
    results = {t: {"lat": [], "n": 0, "time": 0.0, "cpu": 0.0, "errors": []} for t in targets}
    # Warm-up, not measured: code paths, pools, plan caches.
    for target in targets:
        socks, pids = (echo_sockets, echo_pids) if target == "echo" else (digis_sockets, server_pids)
        await run_target(target, socks, pairs, seed["conversations"], seconds=3, server_pids=pids)
    # What the serving processes burn with every socket connected and nobody talking (keep-alive pings,
    # the channel layer's polling, PostgreSQL's and Redis' housekeeping): the floor under every target.
    idle_before = cpu_seconds(server_pids)
    idle_started = asyncio.get_running_loop().time()
    await asyncio.sleep(args.seconds)
    idle_cores = (cpu_seconds(server_pids) - idle_before) / (asyncio.get_running_loop().time() - idle_started)
    print(f"idle: server CPU {idle_cores:.2f} cores with {len(tokens)} sockets connected", flush=True)
    for round_no in range(args.rounds):
        for target in targets:
            socks, pids = (echo_sockets, echo_pids) if target == "echo" else (digis_sockets, server_pids)
            spy = None
            if args.py_spy and round_no == 0 and target != "echo":
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(daphne_pids[0]),
                                        "--rate", "200", "--nonblocking", "--format", "raw",
                                        "--output", f"{args.py_spy}-{target}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lat, n, elapsed, cpu, errors, sent = await run_target(target, socks, pairs, seed["conversations"],
                                                                  seconds=args.seconds, server_pids=pids)
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
                await asyncio.to_thread(spy.wait, 30)
            data = results[target]
            data["lat"] += lat
            data["n"] += n
            data["time"] += elapsed
            data["cpu"] += cpu
            data["errors"] += errors
            print(f"round {round_no + 1} {target:8s} {n / elapsed:8.0f} msg/s ({sent} sent)  p50 {percentile(lat, .5):6.1f} ms  "
                  f"p99 {percentile(lat, .99):6.1f} ms  server CPU {cpu / max(elapsed, 1e-9):.2f} cores"
                  f"{'  errors: ' + str(len(errors)) if errors else ''}", flush=True)
    await close_sockets(digis_sockets)
    await close_sockets(echo_sockets)
    print(f"broadcast to {args.followers} followers ...", flush=True)
    results["broadcast"] = await broadcast(ports, seed, followers=args.followers)
    results["idle_cores"] = idle_cores
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
    parser.add_argument("--fast", action="store_true", help="PostgreSQL without fsync (default: production durability)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--logs", metavar="DIR", help="keep the servers' output (daphne, worker) in DIR")
    parser.add_argument("--py-spy", metavar="PREFIX", help="sample the first daphne process with py-spy (installed "
                        "separately, not a requirement) during each target's first round: PREFIX-<target>.txt")
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

        def server_pids():
            return [p.pid for p in daphnes] + [pg_master] + children(pg_master) + [redis_pid]

        class Pids(list):
            """Re-read on each use: PostgreSQL starts a backend per new connection."""

            def __iter__(self):
                return iter(server_pids())

        results = asyncio.run(load(args, ports, echo_ports, seed, Pids(), [p.pid for p in echoes], [p.pid for p in daphnes]))
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
    rows = []
    echo = results["echo"]
    echo_per_core = echo["n"] / max(echo["cpu"], 1e-9)
    idle = results["idle_cores"]
    for target in ("echo", "ping", "typing", "message"):
        data = results[target]
        rate = data["n"] / max(data["time"], 1e-9)
        per_core = data["n"] / max(data["cpu"], 1e-9)
        busy = data["cpu"] / max(data["time"], 1e-9)
        # CPU per message above the idle floor (the echo server's own floor is ~0).
        ms_per_message = (busy - (0 if target == "echo" else idle)) * 1000 / max(rate, 1e-9)
        rows.append((target, rate, percentile(data["lat"], .5), percentile(data["lat"], .99), per_core,
                     per_core / echo_per_core, busy, ms_per_message, len(data["errors"])))
    header = ("| target | msg/s | p50 ms | p99 ms | msg per server CPU-second | vs echo per core | server cores busy "
              "| server CPU ms per message above idle | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = "\n".join(f"| {t} | {r:.0f} | {p50:.1f} | {p99:.1f} | {pc:.0f} | {ratio:.3f} | {busy:.2f} | {ms:.2f} | {e} |"
                      for t, r, p50, p99, pc, ratio, busy, ms, e in rows)
    table += f"\n\nIdle (every socket connected, nobody talking): the serving processes used {idle:.2f} cores."
    b = results["broadcast"]
    broadcast_line = (f"Broadcast to {b['recipients']} followers: accepted in {b['accepted_ms']:.0f} ms (queued, nothing "
                      f"delivered in the request); all {b['delivered']} copies stored {b['done_s']:.1f} s after the POST; "
                      f"{b['sample_received']} of {b['sampled']} sampled followers' open sockets got it, the last "
                      f"{b['last_sample_s']:.1f} s after the POST.")
    print(header)
    print(table)
    print(broadcast_line)
    message = next(row for row in rows if row[0] == "message")
    verdict = (f"Targets: p99 {message[3]:.1f} ms for stored messages ({'met' if message[3] < 50 else 'NOT met'}, < 50 ms); "
               f"{message[5]:.3f}x the echo server's messages per core ({'met' if message[5] >= 0.5 else 'NOT met'}, >= 0.5x).")
    print(verdict)
    if args.no_write:
        return
    body = (
        f"{SECTION}\n\n"
        f"`make bench ARGS=realtime` (`bench/realtime.py --clients {args.clients} --conversations {args.conversations} "
        f"--seconds {args.seconds} --rounds {args.rounds} --workers {args.workers} --followers {args.followers}"
        f"{f' --price {args.price}' if args.price else ''}{' --fast' if args.fast else ''}`), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit()}; load average before "
        f"{' '.join(load_before)}, after {' '.join(load_after)} ({os.cpu_count()} CPUs, shared with other engineers' "
        f"work unless the load says otherwise). {args.workers} daphne processes (DEBUG=false) and a Celery worker, "
        f"PostgreSQL ({'fsync off' if args.fast else 'production durability'}) and Redis on loopback; "
        f"{args.clients} sockets signed in by bearer token, split over the daphne processes, {args.conversations} "
        f"conversations talking in a closed loop (one message in flight each), the rest idle; the same client process "
        f"(Python `websockets`) drives a bare `websockets` echo server ({args.workers} processes) in the same run, "
        f"targets interleaved round by round. Latency: send -> the other person's receipt (echo, ping: the round trip). "
        f"Per core: receipts per CPU-second of the serving processes (daphne + PostgreSQL + Redis; the echo server's own).\n\n"
        f"{header}\n{table}\n\n{broadcast_line}\n\n{verdict}\n"
    )
    print(f"wrote {write_results_section(SECTION, body)}")


if __name__ == "__main__":
    main()
