"""Payments benchmark: webhook processing latency, receive -> tokens credited.

    .venv/bin/python bench/payments.py [--concurrency 20] [--rounds 5] [--no-redis]

Starts its own throwaway PostgreSQL (normal durability: fsync and
synchronous_commit on), Redis (channel layer and cache, as production runs;
--no-redis for the embedded in-memory default) and localstripe on loopback,
migrates, then per round:
pays `--concurrency` purchases for real at localstripe (distinct fans), and
delivers their signed `payment_intent.succeeded` events all at once, one
thread each, through Django's full request stack (middleware, signature check,
event record, ledger credit, purchase update). A delivery's latency runs from
the request entering Django to the response, i.e. to the tokens being credited
and committed. A second scenario delivers ONE event `--concurrency` times at
once (Stripe's duplicates): one credit, the rest are answered without work.

Prints p50/p95/max for both; the target is p95 < 100 ms.

    .venv/bin/python bench/payments.py --server [--concurrency 20] [--rounds 5]

delivers over HTTP to two daphne processes on loopback (what production runs:
one process per core), the deliveries split round-robin over the two; the
latency is then measured by the sender (request written -> response read).
Each round also sends `--concurrency` GETs of /healthz at once (a view with no
I/O behind the same middleware): the floor that daphne and Django set. One fan
of each round has a socket's channel in her group: her wallet.updated push
must arrive. Also printed: CPU per request of each party sharing the cores
(daphne processes, PostgreSQL, Redis, the sender) from /proc, over each burst
and 0.2 s after it. `--py-spy FILE` samples the first daphne process.

    .venv/bin/python bench/payments.py --sustained [--rates 25,50,100,150,200] [--duration 60]

a sustained run against the same two web processes (started as the Procfile
starts them, ``python -m digis.server``): signed, distinct
``payment_intent.succeeded`` deliveries at a fixed rate for --duration
seconds, one rate after another (ascending; it stops after the first rate
whose p95 is 100 ms or more, or that has errors). Open loop: delivery i is due
at start + i / rate and its latency runs from when it was due to its response,
so a server that falls behind is charged for the wait (no coordinated
omission). The events of a step are made before it starts (purchases and their
intents at localstripe; the succeeded state written into the event).
Reports, per rate: achieved rate, p50/p95/p99/max, errors, CPU per delivery;
and the highest rate with p95 < 100 ms. Appended to "## payments" in
bench/RESULTS.md (date, commit, load before and after) unless --no-write.

    .venv/bin/python bench/payments.py --breakdown [--rounds 40]

CPU (process_time) of sequential crediting deliveries in-process, whole and
by stage (also part of --profile).

    .venv/bin/python bench/payments.py --profile [--rounds 20]

instead delivers `--rounds` distinct events one after another (after a
warm-up), counts the SQL queries and commits of one crediting delivery and of
one duplicate delivery (CaptureQueriesContext), and prints the top cumulative
cProfile entries of the sequential deliveries.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    Postgres, Redis, Run, append_run, free_port, record_target, start_web, stop_processes,
)
sys.path.insert(0, str(ROOT))


def sign(payload: bytes, secret: str) -> str:
    t = int(time.time())
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


_clients = []


def client_for(i):
    """A long-lived test client per thread slot, its middleware chain built
    outside the timed section. A server builds its handler once per process;
    a fresh Client() builds it on its first request (WhiteNoise indexes every
    static file, ~25 ms), which earlier runs of this benchmark timed as part
    of every delivery."""
    from django.test import Client

    while len(_clients) <= i:
        client = Client()
        client.handler.load_middleware()
        _clients.append(client)
    return _clients[i]


def deliver_all_http(payloads, secret, ports, path="/api/payments/stripe/webhook/"):
    """POST every payload at once over HTTP, one thread each, round-robin over `ports`
    (a payload of None: GET `path`, for the floor of a view that does nothing)."""
    import http.client

    barrier = threading.Barrier(len(payloads))
    results = [None] * len(payloads)

    def work(i, payload):
        conn = http.client.HTTPConnection("127.0.0.1", ports[i % len(ports)], timeout=30)
        conn.connect()
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)} if payload else {}
        barrier.wait()
        start = time.perf_counter()
        conn.request("POST" if payload else "GET", path, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        results[i] = ((time.perf_counter() - start) * 1000, response.status)
        conn.close()

    threads = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def cpu_ms(pids):
    """CPU time (user + system) that these processes have used so far, in ms."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total * 1000 / tick


def children_of(pid):
    """The processes whose parent is `pid` (PostgreSQL's backends, checkpointer, WAL writer...)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return found


class CpuMeter:
    """CPU per delivery of each party sharing the cores: the daphne processes,
    PostgreSQL (postmaster and every child), Redis, and this process (the
    sender's threads; in-process runs, also the whole Django stack)."""

    def __init__(self, *, daphne_pids, pg, redis):
        self.parties = {"daphne": lambda: daphne_pids}
        postmaster = int(Path(pg.data, "postmaster.pid").read_text().split()[0])
        self.parties["postgres"] = lambda: [postmaster, *children_of(postmaster)]
        if redis is not None:
            redis_pid = int(Path(redis.workdir, "redis.pid").read_text())
            self.parties["redis"] = lambda: [redis_pid]
        self.parties["sender" if daphne_pids else "bench process"] = lambda: [os.getpid()]
        self.totals = {}

    def measure(self, scenario, deliver, count=len):
        """Run deliver() and add each party's CPU to the scenario (count(result) deliveries); returns deliver()'s result."""
        pids = {name: pids() for name, pids in self.parties.items()}
        before = {name: cpu_ms(p) for name, p in pids.items()}
        result = deliver()
        time.sleep(0.2)  # work a server does after its responses (the socket pushes) counts too
        # Backends that ended meanwhile take their CPU with them (none should: the pools stay open).
        spent = {name: cpu_ms(p) - before[name] for name, p in pids.items()}
        entry = self.totals.setdefault(scenario, {"n": 0, **{name: 0.0 for name in self.parties}})
        entry["n"] += count(result)
        for name, ms in spent.items():
            entry[name] += ms
        return result

    def lines(self):
        for scenario, entry in self.totals.items():
            parts = ", ".join(f"{name} {entry[name] / entry['n']:.2f}" for name in self.parties)
            yield f"CPU per request, {scenario}: {parts} ms (n={entry['n']}, clock tick {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms)"


def deliver_at_rate(payloads, secret, ports, rate, path="/api/payments/stripe/webhook/", senders=64):
    """Open loop: payload i is due at start + i / rate, sent by whichever of
    ``senders`` threads (keep-alive connections, round-robin over ``ports``) is
    free. Returns ([(latency ms from due time to response, status)], seconds
    from the first due time to the last response)."""
    import http.client

    results = [None] * len(payloads)
    lock = threading.Lock()
    state = {"next": 0}
    start = time.perf_counter() + 0.5

    def work(slot):
        conn = None
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(payloads):
                break
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            payload = payloads[i]
            headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)}
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", ports[slot % len(ports)], timeout=30)
                conn.request("POST", path, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn = None
            results[i] = ((time.perf_counter() - due) * 1000, status)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def deliver_all(payloads, secret):
    """POST every payload at once, one thread each; returns (latency_ms, status) per delivery."""
    from django.db import connections

    barrier = threading.Barrier(len(payloads))
    results = [None] * len(payloads)
    clients = [client_for(i) for i in range(len(payloads))]

    def work(i, payload):
        client = clients[i]
        header = sign(payload, secret)
        barrier.wait()
        start = time.perf_counter()
        response = client.post("/api/payments/stripe/webhook/", data=payload, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=header)
        results[i] = ((time.perf_counter() - start) * 1000, response.status_code)
        connections.close_all()

    threads = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def deliver_one(client, payload, secret):
    start = time.perf_counter()
    response = client.post("/api/payments/stripe/webhook/", data=payload, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=sign(payload, secret))
    return (time.perf_counter() - start) * 1000, response


def cpu_breakdown(client, paid_events, secret, n):
    """CPU (time.process_time: every thread of this process, so the push's
    event loop too; waiting on PostgreSQL or Redis excluded) of sequential
    crediting deliveries, whole and by stage, measured by wrapping each stage."""
    import stripe

    from digis.realtime import events as realtime
    from ledger import services as ledger
    from payments import services

    stages = {}

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                stages.setdefault(label, []).append((time.process_time() - started) * 1000)

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)

    undo = [
        wrap(stripe.WebhookSignature, "verify_header", "signature check"),
        wrap(services, "receive_event", "receive_event"),
        wrap(services, "_purchase_for_intent", "  purchase lookup"),
        wrap(ledger, "credit_purchase", "  ledger.credit_purchase"),
        wrap(services, "_mark_done", "  event marked done"),
        wrap(realtime, "_group_send_now", "  wallet.updated push (after commit)"),
    ]
    totals = []
    try:
        for _, payload in paid_events(n, "cpu"):
            started = time.process_time()
            _, response = deliver_one(client, payload, secret)
            totals.append((time.process_time() - started) * 1000)
            assert response.status_code == 200
    finally:
        for restore in undo:
            restore()
    print(f"CPU per crediting delivery, in-process, sequential (process_time, n={n}): "
          f"request through Django's test client p50={percentile(totals, 50):.2f} ms")
    for label, values in stages.items():
        print(f"  {label}: p50={percentile(values, 50):.2f} ms (n={len(values)})")


def profile(paid_events, secret, n):
    """Sequential deliveries: wall time each, queries/commits of one, cProfile of all."""
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    for _, payload in paid_events(3, "pwarm"):
        deliver_one(client, payload, secret)

    def describe(label, queries, ms):
        commits = sum(1 for q in queries if q["sql"].strip().upper().startswith("COMMIT"))
        sql_ms = sum(float(q["time"]) for q in queries) * 1000
        print(f"{label}: {ms:.1f} ms wall, {len(queries)} queries ({commits} explicit COMMIT/ RELEASE not counted), "
              f"{sql_ms:.1f} ms in SQL as timed by Django")
        for q in queries:
            print(f"    {float(q['time']) * 1000:6.2f} ms  {q['sql'][:150]}")

    (_, payload), = paid_events(1, "pq")
    with CaptureQueriesContext(connection) as ctx:
        ms, response = deliver_one(client, payload, secret)
    assert response.status_code == 200, response.content
    describe(f"one crediting delivery ({response.json()['outcome']})", ctx.captured_queries, ms)
    with CaptureQueriesContext(connection) as ctx:
        ms, response = deliver_one(client, payload, secret)
    describe(f"the same event again ({response.json()['outcome']})", ctx.captured_queries, ms)

    events = paid_events(n, "prof")
    times = []
    profiler = cProfile.Profile()
    for _, payload in events:
        profiler.enable()
        ms, response = deliver_one(client, payload, secret)
        profiler.disable()
        assert response.status_code == 200
        times.append(ms)
    print(f"{n} sequential deliveries under cProfile: p50={percentile(times, 50):.1f} ms max={max(times):.1f} ms")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    print(out.getvalue())

    cpu_breakdown(client, paid_events, secret, n)

    from django.db import connections

    def timed(label, fn, k=n):
        values = []
        for _ in range(k):
            started = time.perf_counter()
            fn()
            values.append((time.perf_counter() - started) * 1000)
        print(f"{label}: p50={percentile(values, 50):.2f} ms max={max(values):.2f} ms")

    def acquire_release():
        connection.ensure_connection()
        connections.close_all()

    def in_thread(fn):
        t = threading.Thread(target=fn)
        t.start()
        t.join()

    timed("pool connection acquire+release, same thread", acquire_release)
    timed("pool connection acquire+release, new thread each", lambda: in_thread(acquire_release))
    timed("SELECT 1 round trip", lambda: connection.cursor().execute("SELECT 1"))
    times = [deliver_one(Client(), payload, secret)[0] for _, payload in paid_events(n, "fresh")]
    print(f"{n} deliveries, each with a fresh Client() (builds the middleware chain; what runs before "
          f"this change timed): p50={percentile(times, 50):.1f} ms max={max(times):.1f} ms")
    times = [deliver_all([payload], secret)[0][0] for _, payload in paid_events(n, "thr")]
    print(f"{n} deliveries one at a time through deliver_all (new thread each, long-lived Client): "
          f"p50={percentile(times, 50):.1f} ms max={max(times):.1f} ms")

    import gc

    pauses = {0: [], 1: [], 2: []}
    started = {}

    def on_gc(phase, info):
        if phase == "start":
            started["t"] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started["t"]) * 1000)

    times = []
    gc.callbacks.append(on_gc)
    try:
        for _, payload in paid_events(n, "plain"):
            ms, response = deliver_one(client, payload, secret)
            times.append(ms)
    finally:
        gc.callbacks.remove(on_gc)
    print(f"{n} sequential deliveries without profiler: p50={percentile(times, 50):.1f} ms "
          f"p95={percentile(times, 95):.1f} ms max={max(times):.1f} ms")
    print("cyclic GC during them (and the purchases paid for them): " + ", ".join(
        f"gen{g} {len(v)}x {sum(v):.1f} ms (max {max(v, default=0):.1f})" for g, v in pauses.items())
        + f"; {len(gc.get_objects())} tracked objects")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", action="store_true", help="deliver over HTTP to 2 daphne processes")
    parser.add_argument("--profile", action="store_true", help="sequential deliveries under cProfile + query counts")
    parser.add_argument("--breakdown", action="store_true",
                        help="only the CPU of `--rounds` sequential crediting deliveries, whole and by stage (part of --profile)")
    parser.add_argument("--no-redis", action="store_true",
                        help="no REDIS_URL: in-memory channel layer and cache (the embedded default; production uses Redis)")
    parser.add_argument("--verbose", action="store_true", help="print every round's latencies (ms/status), sorted")
    parser.add_argument("--py-spy", metavar="FILE", help="with --server: sample the first daphne process with py-spy "
                        "(installed separately, not a requirement) over the measured rounds; FILE gets py-spy's raw "
                        "(collapsed stacks) output, idle threads left out")
    parser.add_argument("--sustained", action="store_true", help="fixed-rate deliveries over HTTP, --duration s per rate")
    parser.add_argument("--rates", default="25,50,100,150,200", help="with --sustained: deliveries per second, ascending")
    parser.add_argument("--duration", type=int, default=60, help="with --sustained: seconds per rate")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--settings", default="digis.settings",
                        help="Django settings module (for experiments: a module that imports digis.settings and changes one thing)")
    args = parser.parse_args()
    run = Run(" ".join(["bench/payments.py", *sys.argv[1:]]))

    pg = Postgres(durable=True, max_connections=200, prefix="digis-bench-payments-").start()
    # Production (several daphne processes) needs Redis for the channel layer: the
    # wallet.updated push after commit is a Redis group_send inside the timed section.
    redis = None if args.no_redis else Redis().start()
    stripe_port = free_port()
    localstripe = subprocess.Popen([sys.executable, "-m", "payments.localstripe_server", "--port", str(stripe_port)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secret = "whsec_bench_" + secrets.token_hex(16)
    daphnes = []
    try:
        os.environ.update({
            "DATABASE_URL": f"postgres://digis@127.0.0.1:{pg.port}/digis",
            "DB_POOL_MAX_SIZE": str(args.concurrency + 10),
            "STRIPE_API_HOST": f"http://127.0.0.1:{stripe_port}",
            "STRIPE_WEBHOOK_SECRET": secret,
            "RATELIMIT_ENABLE": "false",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_hex(40),
            "ALLOWED_HOSTS": "testserver,127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": args.settings,
            **({"REDIS_URL": redis.url} if redis else {}),
        })
        subprocess.run([sys.executable, "-m", "payments.localstripe_server", "--port", str(stripe_port), "--wait"], check=True, cwd=ROOT)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)

        import stripe

        from accounts.tests.factories import make_user
        from ledger.services import balance_of, open_wallet
        from payments import services
        from payments.models import TokenPackage

        package = TokenPackage.objects.order_by("price_cents").first()

        def paid_events(n, tag, confirm=True):
            """n purchases and their signed succeeded events. confirm=False (the sustained run's thousands):
            the intent is created at localstripe and read back, and its succeeded state is written into the
            event here rather than paid for at localstripe (one call fewer; the webhook reads only the event)."""
            events = []
            for i in range(n):
                user = make_user(f"bench{tag}x{i}", password=None)  # unusable password: no Argon2 hash to pay for
                open_wallet(user=user)  # as accounts.services.register_user does for every real user
                purchase = services.start_purchase(user=user, package_id=package.pk)
                if confirm:
                    services.confirm_purchase(user=user, purchase_id=purchase.pk, payment_method="pm_card_visa")
                intent = stripe.PaymentIntent.retrieve(purchase.payment_intent_id).to_dict()
                if not confirm:
                    intent.update(status="succeeded", amount_received=intent["amount"])
                event = {"id": f"evt_bench_{tag}_{i}", "object": "event", "type": "payment_intent.succeeded",
                         "livemode": False, "created": int(time.time()), "api_version": "2017-08-15",
                         "data": {"object": intent}}
                events.append((user, json.dumps(event).encode()))
            return events

        def listen_to(user, event_type="wallet.updated"):
            """Join a channel to the user's socket group; returns a wait for the next ``event_type`` on it.

            Other events on the way are skipped: a credited purchase also notifies its buyer
            (notification.new), and the balance push is detached, so either may come first."""
            from asgiref.sync import async_to_sync
            from channels.layers import get_channel_layer

            layer = get_channel_layer()
            channel = async_to_sync(layer.new_channel)()
            async_to_sync(layer.group_add)(f"user.{user.pk}", channel)

            async def receive():
                async def wanted():
                    while True:
                        message = await layer.receive(channel)
                        if message.get("event", {}).get("type") == event_type:
                            return message

                return await asyncio.wait_for(wanted(), 10)

            return async_to_sync(receive)

        if args.breakdown:
            from django.test import Client

            client = Client()
            for _, payload in paid_events(3, "bwarm"):
                deliver_one(client, payload, secret)
            cpu_breakdown(client, paid_events, secret, args.rounds)
            return
        if args.profile:
            profile(paid_events, secret, args.rounds)
            return

        if args.sustained:
            sustained(args, run, pg, redis, secret, paid_events, balance_of, package, daphnes)
            return

        if args.server:
            # As the Procfile runs them (python -m digis.server: daphne with its settings).
            ports, started = start_web(2, dict(os.environ), python=sys.executable)
            daphnes.extend(started)
            deliver = lambda payloads, secret: deliver_all_http(payloads, secret, ports)  # noqa: E731
        else:
            deliver = deliver_all

        # Warm-up (not measured): opens the pool's connections, loads code paths.
        deliver([payload for _, payload in paid_events(args.concurrency, "warm")], secret)

        meter = CpuMeter(daphne_pids=[proc.pid for proc in daphnes], pg=pg, redis=redis)
        if args.py_spy and daphnes:
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(daphnes[0].pid),
                                    "--rate", "1000", "--format", "raw", "--output", args.py_spy],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # let it attach
        distinct, duplicate, floor = [], [], []
        for round_no in range(args.rounds):
            if args.server:
                # The floor on the same processes: /healthz (no I/O) through the same middleware.
                results = meter.measure("floor /healthz", lambda: deliver_all_http(
                    [None] * args.concurrency, secret, ports, path="/healthz"))
                assert all(status == 200 for _, status in results), results
                floor += [ms for ms, _ in results]

            events = paid_events(args.concurrency, f"d{round_no}")
            # One fan of the round has a socket open: her wallet.updated push must arrive.
            listener = listen_to(events[0][0]) if redis else None
            results = meter.measure("distinct", lambda: deliver([payload for _, payload in events], secret))
            assert all(status == 200 for _, status in results), results
            assert all(balance_of(user=user) == package.total_tokens for user, _ in events)
            if listener:
                assert listener()["event"] == {"type": "wallet.updated", "balance": package.total_tokens}
            distinct += [ms for ms, _ in results]
            if args.verbose:
                print(f"round {round_no} distinct:", " ".join(f"{ms:.0f}" for ms, _ in sorted(results)))

            (user, payload), = paid_events(1, f"s{round_no}")
            results = meter.measure("duplicates", lambda: deliver([payload] * args.concurrency, secret))
            assert balance_of(user=user) == package.total_tokens, "credited more than once"
            duplicate += [ms for ms, _ in results]
            if args.verbose:
                print(f"round {round_no} duplicate:", " ".join(f"{ms:.0f}/{status}" for ms, status in sorted(results)))

        if args.py_spy and daphnes:
            spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
            spy.wait(timeout=60)

        def line(name, values):
            return (f"{name}: n={len(values)} p50={percentile(values, 50):.1f} ms "
                    f"p95={percentile(values, 95):.1f} ms max={max(values):.1f} ms")

        print(f"{'2 daphne processes over HTTP, ' if args.server else ''}concurrency {args.concurrency}, {args.rounds} rounds, PostgreSQL {pg.bindir.split('/')[-2]}, "
              f"{'Redis channel layer' if redis else 'in-memory channel layer'}, {os.cpu_count()} CPUs, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {open('/proc/loadavg').read().split()[0]} at the end")
        print(line(f"distinct events ({args.concurrency} purchases credited at once)", distinct))
        print(line(f"one event delivered {args.concurrency} times at once (credited once)", duplicate))
        if floor:
            print(line(f"floor: GET /healthz (no I/O, same middleware) {args.concurrency} at once", floor))
        for text in meter.lines():
            print(text)
        if args.server and not args.no_write:
            run.finish()
            rows = [("distinct events at once (each credits a purchase)", distinct),
                    ("one event delivered that many times at once (credited once)", duplicate),
                    ("floor: GET /healthz (no I/O, same middleware)", floor)]
            body = (run.heading("Burst run")
                    + f"{args.concurrency} signed `payment_intent.succeeded` deliveries at once over HTTP, {args.rounds} "
                    "rounds after a warm-up, to 2 web processes started as the Procfile does (`python -m digis.server`), "
                    "DEBUG off, PostgreSQL (fsync, synchronous_commit on) and Redis on loopback; latency measured by "
                    "the sender.\n\n| scenario | n | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|\n"
                    + "\n".join(f"| {name} | {len(v)} | {percentile(v, 50):.1f} | {percentile(v, 95):.1f} | {max(v):.1f} |"
                                 for name, v in rows)
                    + "\n\n" + "\n".join(f"- {text}" for text in meter.lines())
                    + f"\n- target p95 < 100 ms for {args.concurrency} distinct at once: "
                    + ("met" if percentile(distinct, 95) < 100 else "**not met**") + "\n")
            print(f"appended to {append_run('## payments', body)}")
        if args.server and args.concurrency == 20:
            p95 = percentile(distinct, 95)
            record_target("payments", f"{args.concurrency} distinct webhooks at once, p95 (2 web processes)",
                          f"{p95:.0f} ms", "< 100 ms", p95 < 100)
    finally:
        stop_processes(daphnes)
        localstripe.terminate()
        localstripe.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        pg.stop()
        if redis:
            redis.stop()


def sustained(args, run, pg, redis, secret, paid_events, balance_of, package, web):
    """The --sustained run: see the module's docstring."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    ports, started = start_web(2, dict(os.environ), python=sys.executable)
    web.extend(started)
    meter = CpuMeter(daphne_pids=[proc.pid for proc in started], pg=pg, redis=redis)

    def make_events(n, tag):
        """n paid purchases and their signed events, made by 8 threads (not timed)."""
        def chunk(k):
            try:
                return paid_events(n // 8 + (1 if k < n % 8 else 0), f"{tag}c{k}", confirm=False)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(8) as pool:
            return [event for part in pool.map(chunk, range(8)) for event in part]

    # Warm-up (not measured): the pools' connections, code paths.
    warm = make_events(40, "swarm")
    deliver_at_rate([payload for _, payload in warm], secret, ports, rate=20)
    steps = []
    for rate in [int(r) for r in args.rates.split(",")]:
        made = time.perf_counter()
        events = make_events(rate * args.duration, f"r{rate}")
        print(f"rate {rate}/s: {len(events)} events paid for in {time.perf_counter() - made:.0f} s; sending for "
              f"{args.duration} s, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        # What the web processes spend with no request at all, so that the CPU per delivery of a low rate
        # (where it is divided among few deliveries) can be read.
        web_pids = [proc.pid for proc in started]
        idle0 = cpu_ms(web_pids)
        time.sleep(3)
        idle = (cpu_ms(web_pids) - idle0) / 3
        results, elapsed = meter.measure(
            f"{rate}/s", lambda: deliver_at_rate([payload for _, payload in events], secret, ports, rate=rate),
            count=lambda result: len(result[0]))
        latencies = [ms for ms, _ in results]
        errors = sum(1 for _, status in results if status != 200)
        sample = events[:: max(1, len(events) // 50)]
        short = sum(1 for user, _ in sample if balance_of(user=user) != package.total_tokens)
        step = {"rate": rate, "achieved": len(results) / elapsed, "n": len(results), "errors": errors + short,
                "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
                "max": max(latencies), "load": load_before, "idle": idle,
                "cpu": {name: meter.totals[f"{rate}/s"][name] / len(results) for name in meter.parties}}
        steps.append(step)
        print(f"  achieved {step['achieved']:.1f}/s, p50 {step['p50']:.1f} p95 {step['p95']:.1f} p99 {step['p99']:.1f} "
              f"max {step['max']:.1f} ms, {step['errors']} errors; CPU ms/delivery "
              + ", ".join(f"{k} {v:.2f}" for k, v in step["cpu"].items()), flush=True)
        if step["p95"] >= 100 or step["errors"]:
            break
    run.finish()
    passing = [s["rate"] for s in steps if s["p95"] < 100 and not s["errors"]]
    best = max(passing) if passing else None
    table = ("| rate /s | achieved /s | deliveries | p50 ms | p95 ms | p99 ms | max ms | errors | load at start | "
             "CPU ms/delivery: web | PostgreSQL | Redis | sender | web idle, ms/s |\n|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n"
             + "\n".join(f"| {s['rate']} | {s['achieved']:.1f} | {s['n']} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} "
                         f"| {s['max']:.1f} | {s['errors']} | {s['load']} | {s['cpu'].get('daphne', 0):.2f} "
                         f"| {s['cpu'].get('postgres', 0):.2f} | {s['cpu'].get('redis', 0):.2f} | {s['cpu'].get('sender', 0):.2f} | {s['idle']:.0f} |"
                         for s in steps))
    verdict = (f"highest rate with p95 < 100 ms: **{best}/s**" if best else "no rate had p95 < 100 ms")
    if steps and steps[-1]["p95"] < 100 and not steps[-1]["errors"]:
        verdict += " (the highest rate tried: the ceiling is above it)"
    print(table)
    print(verdict)
    if not args.no_write:
        body = (run.heading("Sustained run")
                + f"2 web processes started as the Procfile does (`python -m digis.server`), DEBUG off, PostgreSQL "
                f"(fsync, synchronous_commit on) and Redis (channel layer, cache) on loopback; distinct signed "
                f"`payment_intent.succeeded` deliveries at a fixed rate for {args.duration} s per rate (open loop, 64 "
                "sender threads with keep-alive connections, latency from each delivery's due time to its response), "
                "rates ascending until p95 reached 100 ms. CPU per delivery from /proc (it includes what the web processes "
                "spend idle, given beside it, which weighs on low rates).\n\n"
                f"{table}\n\n- {verdict}\n")
        print(f"appended to {append_run('## payments', body)}")
    record_target("payments", f"sustained signed webhooks, {args.duration} s per rate: highest rate with p95 < 100 ms",
                  f"{best or 0}/s" + (" (ceiling not reached)" if best and best == steps[-1]["rate"] else ""),
                  "reported", None)


if __name__ == "__main__":
    main()
