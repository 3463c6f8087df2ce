#!/usr/bin/env python3
"""Explore under load: 10,000 creators on PostgreSQL, served by daphne, 32 clients.

    .venv/bin/python bench/explore.py [--creators 10000] [--seconds 8] [--rounds 3] [--clients 32] [--workers 2]

Starts its own PostgreSQL and Redis on free loopback ports in a temporary
directory (like scripts/test.sh), migrates, seeds creators with categories,
collects static files, starts a Celery worker with beat and daphne on
127.0.0.1 with production-like
settings (DEBUG=false, Redis cache, connection pool; the global per-IP rate
limit off, since all clients share one IP), and measures, in the same run and
interleaved round by round so machine noise hits them alike:

    minimal   a view returning "ok" through the same middleware (creators.bench_urls)
    api       GET /api/creators/
    page      GET /explore/
    api_cat   GET /api/creators/?category=gaming&sort=new
    api_q     GET /api/creators/?q=<a name>

The load client is wrk (C, HTTP/1.1 keep-alive, one connection per client;
installed with apt-get when missing): a Python client on the same 2 cores
took CPU from the server it measured. With several daphne processes (one per
core by default, as production runs them) the clients are split evenly over
them, as a load balancer would, one wrk per process, and their latency
quantiles (bench/explore_wrk.lua) are merged into one distribution.
Anonymous clients, as most Explore traffic is: they get the few-second
shared response (selectors.anonymous_explore_cached); signed-in viewers do
not. Results go to stdout and to the "Creators: Explore" section of
bench/RESULTS.md.
"""

import argparse
import os
import shutil
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres, Redis, free_port, wait_for_port, write_results_section  # noqa: E402  (bench/ is on sys.path when run as a script)
PY = str(ROOT / ".venv" / "bin" / "python")
DAPHNE = str(ROOT / ".venv" / "bin" / "daphne")
SECTION = "## Creators: Explore"


class Services:
    """PostgreSQL + Redis on loopback (bench/servers.py); stopped on exit."""

    def __init__(self):
        self.pg = Postgres(durable=False, max_connections=100)
        self.redis = Redis()
        self.pg_port, self.redis_port = self.pg.port, self.redis.port
        self.workdir = Path(self.pg.workdir)  # removed with the cluster

    def start(self):
        self.pg.start()
        self.redis.start()

    def stop(self):
        self.redis.stop()
        self.pg.stop()


SEED = r"""
import random, uuid, datetime as dt
from django.utils import timezone
from accounts.models import User
from creators.models import Category, CreatorProfile, CreatorCategory
N = int(__import__("os").environ["BENCH_CREATORS"])
rng = random.Random(42)
first = "Luna Kai Maya Theo Zara Noah Ivy Omar Ana Ben Cleo Dev Eli Fay Gus Hana Ian Jo Kim Leo Mia Ned Ola Pia Raj Sam Tia Uma Vic Wes Xia Yan Zoe".split()
last = "Park Moreno Chen Brandt Okafor Silva Laurent Haddad Novak Rossi Tanaka Khan Berg Costa Diaz Evans Fox Gray Hill Ito".split()
words = "music gaming yoga cooking synth speedrun coach fashion travel guitar tarot fitness art comedy tech finance languages dance".split()
cats = list(Category.objects.all())
now = timezone.now()
users, profiles, links = [], [], []
for n in range(N):
    uid = uuid.uuid4()
    name = f"{rng.choice(first)} {rng.choice(last)}"
    users.append(User(id=uid, username=f"creator{n}", email=f"creator{n}@bench.test", role="creator", password="!", display_name=name))
    profiles.append(CreatorProfile(user_id=uid, display_name=name, bio=" ".join(rng.choice(words) for _ in range(12)),
                                   video_call_rate=rng.randint(20, 200), voice_call_rate=rng.randint(10, 100),
                                   message_price=rng.randint(5, 50), follower_count=int(rng.paretovariate(1.2) * 10)))
    for position, category in enumerate(rng.sample(cats, rng.randint(1, 5)), start=1):
        links.append(CreatorCategory(profile_id=uid, category=category, position=position))
User.objects.bulk_create(users, batch_size=2000)
CreatorProfile.objects.bulk_create(profiles, batch_size=2000)
# created_at is auto_now_add: spread it over a year so "new" has an order.
for n, profile in enumerate(profiles):
    profile.created_at = now - dt.timedelta(minutes=rng.randint(0, 525600))
CreatorProfile.objects.bulk_update(profiles, ["created_at"], batch_size=2000)
CreatorCategory.objects.bulk_create(links, batch_size=5000)
from django.db import connection
with connection.cursor() as c:
    c.execute("ANALYZE")
print(f"seeded {N} creators, {len(links)} category picks")
"""


# --- load client ---------------------------------------------------------------

WRK_SCRIPT = ROOT / "bench" / "explore_wrk.lua"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk ...", flush=True)
    apt = ["apt-get", "install", "-y", "-q", "wrk"]
    if os.getuid() != 0:
        apt = ["sudo", *apt]
    if subprocess.run(apt, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(apt[:-4] + ["update", "-q"], stdout=subprocess.DEVNULL)
        subprocess.run(apt, stdout=subprocess.DEVNULL, check=True)
    return shutil.which("wrk") or sys.exit("wrk not found after apt-get install wrk")


def cpu_seconds(pids) -> float:
    """utime + stime of the processes (all their threads), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def load(wrk, ports, paths, *, seconds, clients, tmpdir, server_pids=()):
    """Run ``clients`` keep-alive connections for ``seconds``, split evenly over
    ``ports``; returns (requests, errors, elapsed seconds, weighted latency
    samples in seconds, CPU seconds the ``server_pids`` used meanwhile)."""
    cpu_before = cpu_seconds(server_pids)
    runs = []
    for i, port in enumerate(ports):
        share = clients // len(ports) + (1 if i < clients % len(ports) else 0)
        if share == 0:
            continue
        out = Path(tmpdir) / f"wrk-{port}.txt"
        env = {**os.environ, "WRK_PATHS": " ".join(paths), "WRK_OUT": str(out)}
        command = [wrk, "-t1", f"-c{share}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
                   f"http://127.0.0.1:{port}"]
        runs.append((subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL), out))
    requests = errors = 0
    elapsed = 0.0
    samples = []
    for process, out in runs:
        process.wait()
        fields = {}
        quantiles = []
        for line in out.read_text().splitlines():
            name, value = line.split()
            if name == "q":
                quantiles.append(int(value) / 1e6)
            else:
                fields[name] = int(value)
        requests += fields["requests"]
        errors += fields["errors"]
        elapsed = max(elapsed, fields["duration_us"] / 1e6)
        # Each run's quantiles stand for equal shares of its requests.
        weight = fields["requests"] / len(quantiles)
        samples += [(value, weight) for value in quantiles]
    return requests, errors, elapsed, samples, cpu_seconds(server_pids) - cpu_before


def percentile(samples, fraction):
    """Percentile of weighted samples [(value, weight)]."""
    ordered = sorted(samples)
    total = sum(weight for _, weight in ordered)
    if not total:
        return float("nan")
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= total * fraction:
            return value
    return ordered[-1][0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--creators", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="daphne processes, one per core by default (connections split over them)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--only", default="", help="comma-separated targets to run (minimal always runs); implies --no-write")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the servers, for experiments; implies --no-write")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:NAME=VALUE,...",
                        help="experiment: one set of daphne processes per variant with this extra environment, "
                             "interleaved with the others round by round; implies --no-write")
    parser.add_argument("--py-spy", metavar="PREFIX", help="sample the first daphne process with py-spy (installed "
                        "separately, not a requirement) during each target's first round; PREFIX-<target>.txt gets "
                        "py-spy's raw (collapsed) stacks")
    args = parser.parse_args()

    wrk = ensure_wrk()
    load_before = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    services = Services()
    daphnes = []
    try:
        services.start()
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://digis@127.0.0.1:{services.pg_port}/digis",
            "REDIS_URL": f"redis://127.0.0.1:{services.redis_port}/0",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "RATELIMIT_ENABLE": "false",
            "LOG_LEVEL": "WARNING",
            "DIGIS_TESTING": "0",
            "CREATORS_BENCH_URLS": "1",
            "BENCH_CREATORS": str(args.creators),
            "DJANGO_SETTINGS_MODULE": "digis.settings",
            **dict(item.split("=", 1) for item in args.env),
        }
        manage = lambda *a, **kw: subprocess.run([PY, "manage.py", *a], cwd=ROOT, env=env, check=True, **kw)  # noqa: E731
        print("migrating ...", flush=True)
        manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
        manage("collectstatic", "--noinput", stdout=subprocess.DEVNULL)
        print(f"seeding {args.creators} creators ...", flush=True)
        manage("shell", "-c", SEED)
        # A Celery worker with beat, as in production: periodic jobs (the
        # creators' online sweep among them) run beside the web process.
        daphnes.append(subprocess.Popen([str(ROOT / ".venv" / "bin" / "celery"), "-A", "digis", "worker", "-B", "--pool", "solo",
                                         "-s", str(services.workdir / "beat-schedule"), "--loglevel", "WARNING"], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # One set of daphne processes per variant (experiments: --variant); the
        # variants are interleaved round by round like the targets.
        variants = {"": {}} if not args.variant else {
            name: dict(item.split("=", 1) for item in spec.split(",") if item)
            for name, spec in (v.split(":", 1) if ":" in v else (v, "") for v in args.variant)}
        servers = {}
        for variant, extra in variants.items():
            ports = [free_port() for _ in range(args.workers)]
            web = [subprocess.Popen([DAPHNE, "-b", "127.0.0.1", "-p", str(port), "digis.asgi:application"], cwd=ROOT,
                                    env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for port in ports]
            daphnes += web
            servers[variant] = (ports, [process.pid for process in web])
        for ports, _ in servers.values():
            for port in ports:
                wait_for_port(port, seconds=30)
        targets = {
            "minimal": ["/bench/minimal/"],
            "api": ["/api/creators/"],
            "page": ["/explore/"],
            "api_cat": ["/api/creators/?category=gaming&sort=new"],
            "api_q": ["/api/creators/?q=Luna", "/api/creators/?q=guitar", "/api/creators/?q=Moreno"],
        }
        if args.only:
            wanted = {"minimal", *args.only.split(",")}
            targets = {name: paths for name, paths in targets.items() if name in wanted}
        runs = {f"{variant}/{name}" if variant else name: (variant, paths) for variant in variants for name, paths in targets.items()}
        tmpdir = services.workdir
        # Warm-up: caches, pool, code paths.
        for variant, paths in runs.values():
            load(wrk, servers[variant][0], paths, seconds=2, clients=4, tmpdir=tmpdir)
        results = {name: {"requests": 0, "errors": 0, "time": 0.0, "samples": [], "cpu": 0.0} for name in runs}
        for round_no in range(args.rounds):
            for name, (variant, paths) in runs.items():
                ports, web_pids = servers[variant]
                spy = None
                if args.py_spy and round_no == 0:
                    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(web_pids[0]),
                                            "--rate", "250", "--nonblocking", "--gil", "--format", "raw",
                                            "--output", f"{args.py_spy}-{name.replace('/', '-')}.txt"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                requests, errors, elapsed, samples, cpu = load(wrk, ports, paths, seconds=args.seconds,
                                                               clients=args.clients, tmpdir=tmpdir, server_pids=web_pids)
                if spy is not None:
                    spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
                    spy.wait(30)
                data = results[name]
                data["requests"] += requests
                data["errors"] += errors
                data["time"] += elapsed
                data["samples"] += samples
                data["cpu"] += cpu
                print(f"round {round_no + 1} {name:8s} {requests / elapsed:7.1f} req/s p50 {percentile(samples, .5) * 1000:6.1f} ms "
                      f"p95 {percentile(samples, .95) * 1000:6.1f} ms, daphne CPU {cpu * 1000 / max(requests, 1):.2f} ms/req",
                      flush=True)
        # Service time without queueing: one client, one request at a time.
        single = {}
        for name, (variant, paths) in runs.items():
            _, _, _, samples, _ = load(wrk, servers[variant][0][:1], paths, seconds=max(2, round(args.seconds / 2)), clients=1,
                                       tmpdir=tmpdir)
            single[name] = (percentile(samples, .5) * 1000, percentile(samples, .95) * 1000)
            print(f"1 client {name:8s} p50 {single[name][0]:6.1f} ms p95 {single[name][1]:6.1f} ms", flush=True)
    finally:
        for daphne in daphnes:
            daphne.terminate()
            try:
                daphne.wait(10)
            except subprocess.TimeoutExpired:
                daphne.kill()
        services.stop()

    rows = []
    for name, data in results.items():
        variant, paths = runs[name]
        minimal = results[f"{variant}/minimal" if variant else "minimal"]
        minimal_rps = minimal["requests"] / minimal["time"]
        rps = data["requests"] / data["time"]
        samples = data["samples"]
        rows.append((name, paths[0], rps, percentile(samples, .5) * 1000, percentile(samples, .95) * 1000,
                     percentile(samples, .99) * 1000, rps / minimal_rps, data["errors"], *single[name],
                     data["cpu"] * 1000 / max(data["requests"], 1)))
    header = (f"| target | path | req/s ({args.clients} clients) | p50 ms | p95 ms | p99 ms | vs minimal | errors "
              "| 1 client p50 ms | 1 client p95 ms | daphne CPU ms/req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = "\n".join(f"| {n} | `{p}` | {r:.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {ratio:.0%} | {e} | {s50:.1f} | {s95:.1f} | {c:.2f} |"
                      for n, p, r, p50, p95, p99, ratio, e, s50, s95, c in rows)
    print(header)
    print(table)
    if not (args.no_write or args.only or args.env or args.variant or args.py_spy):
        load_after = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
        write_results(args, header + "\n" + table, rows, load_before, load_after)


def write_results(args, table, rows, load_before, load_after):
    verdicts = []
    for name, _, _, _, p95, _, ratio, errors, _, _, _ in rows:
        if name.endswith("minimal"):
            continue
        verdicts.append(f"{name}: p95 {p95:.0f} ms {'met' if p95 < 50 else 'NOT met'}, "
                        f"{ratio:.0%} of minimal {'met' if ratio >= 0.40 else 'NOT met'}{'' if not errors else f', {errors} errors'}")
    # What p95 < 50 ms would take, from this run's own figures: the minimal
    # view's tail (p95 over the closed loop's mean latency) and the slowest
    # Explore row's CPU per request.
    minimal_row = next(row for row in rows if row[0].endswith("minimal"))
    tail = minimal_row[4] / (args.clients / minimal_row[2] * 1000)
    needed_rps = args.clients * tail / 0.050
    worst = min((row for row in rows if not row[0].endswith("minimal")), key=lambda row: row[2])
    cpu_needed = worst[10] * worst[2] / needed_rps
    all_met = all(row[4] < 50 for row in rows if not row[0].endswith("minimal"))
    reach = "" if all_met else (
        f"What p95 < 50 ms takes, from this run: the minimal view's p95 is {tail:.1f}x its Little's-law mean, so at "
        f"{args.clients} clients p95 < 50 ms needs about {needed_rps:.0f} req/s; the slowest Explore row "
        f"({worst[0]}) serves {worst[2]:.0f} req/s at {worst[10]:.2f} ms of daphne CPU per request, so it would need "
        f"about {cpu_needed:.2f} ms ({worst[10] - cpu_needed:.2f} ms less; the minimal view takes {minimal_row[10]:.2f}), "
        "or more cores (req/s scales with cores for every row alike).\n\n"
    )
    body = (
        f"{SECTION}\n\n"
        f"`flock /tmp/digis-bench.lock .venv/bin/python bench/explore.py --creators {args.creators} --clients {args.clients} "
        f"--seconds {args.seconds} --rounds {args.rounds} --workers {args.workers}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average before {' '.join(load_before)}, "
        f"after {' '.join(load_after)} ({os.cpu_count()} CPUs, shared with other engineers' work unless the load says "
        f"otherwise). {args.workers} daphne process(es) with the clients split evenly over them, a Celery worker with "
        f"beat, DEBUG=false, PostgreSQL + Redis cache on loopback; {args.clients} anonymous keep-alive clients from wrk "
        "on the same machine; targets interleaved round by round.\n\n"
        f"{table}\n\n"
        f"Targets (p95 < 50 ms at {args.clients} clients, >= 40% of the minimal view's req/s): "
        + "; ".join(verdicts) + ".\n\n"
        + reach +
        "Reading it: the clients run a closed loop, so by Little's law the mean latency is clients / req/s; "
        "with the tail this stack shows on a quiet machine (p95 about 1.6-2x p50: ~16 requests per daphne "
        "process share its core), a p95 under 50 ms at 32 clients needs roughly 1,000 req/s. The daphne CPU "
        "column (utime + stime of the daphne processes per request served) is the figure the machine's noise "
        "spoils least: with ~2 cores, req/s is about 2 s / (that CPU + wrk's, Redis' and PostgreSQL's share). "
        "The 1-client columns are the service time without queueing. An anonymous Explore hit costs the "
        "minimal view plus the query, host and key handling: each web process answers from its own copy of "
        "the shared response for CREATORS_ANONYMOUS_LOCAL_S = 1 s, then checks the shared entry and the card "
        "generation in Redis (one MGET) again; the API answers a plain anonymous JSON GET without DRF's "
        "dispatch, and the page is stored whole, as bytes, for visitors with no flash message. A miss (every "
        "CREATORS_ANONYMOUS_CACHE_S = 3 s per distinct URL, or after any card change) builds it as signed-in "
        "viewers always do: page order (shared 5 s), cards and presence from Redis, PostgreSQL only when the "
        "order is not cached. See docs/creators.md.\n\n"
        "Session 3, what the tail was (each step measured side by side with `--variant`, i.e. several sets of "
        "daphne processes interleaved round by round in one run, on the shared machine at load 3-13): "
        "(1) CPython's GIL switch interval, 5 ms -> 1 / 0.5 ms: worse (daphne CPU per request, minimal 1.27 -> "
        "1.45 / 1.43 ms, API 2.31 -> 2.53 / 2.80 ms; p95 up); not kept. (2) A bound of 2, 4 or 8 request "
        "threads per process, the others queued FIFO on the event loop: CPU per request unchanged, p95 within "
        "the noise; not kept. (3) The cause: Django's ASGI handler builds the middleware chain in async mode, "
        "and with sync-only middleware (ours, WhiteNoise) a request bounced between the event loop and its "
        "thread about eight times (chain, async_to_sync around URL resolution, CSRF process_view, the view, "
        "and back), each a GIL handoff behind every other busy thread. digis/asgi_handler.py now builds the "
        "chain in sync mode and runs middleware and view in one hop: minimal 1.29 -> 0.96 ms CPU per request, "
        "API 2.05 -> 1.81, page 2.39 -> 2.22; minimal 792 -> 1343 req/s and p95 72 -> 49 ms in the same run "
        "(load 3-5). An async chain would be worse: Django's MiddlewareMixin then runs every process_request "
        "and process_response through sync_to_async (two hops per middleware; one hop is ~46 us of CPU "
        "uncontended). Then Explore's own cost: the whole anonymous page as bytes and the API without DRF's "
        "dispatch took the page from 2.22 to 1.76 ms per request and the API from 1.81 to 1.75 ms (load 8-13). "
        "In-process (Django's test client, 2,000 warm requests, one Redis on loopback): minimal 0.29 ms, "
        "API hit 0.70, page hit 0.64 ms of CPU. Of the API's extra ~0.4 ms about half is the Redis round trip "
        "itself; Django's RedisCacheClient also builds a new redis.Redis client (and its ~170-entry callback "
        "table) for every cache operation, and reusing one per pool took the API hit from 0.70 to 0.63 ms "
        "and in daphne the API from 1.83 to 1.65 ms and the page from 1.84 to 1.66 ms of CPU per request (a --variant "
        "with the change injected, 2026-11-22 09:10, load 2.5-5.6; digis/cache.py is not changed here); django-csp builds both policy headers on every response "
        "(~0.05-0.08 ms on every view; now built once per process, digis/middleware.py). What remains "
        "between an Explore hit and the minimal view is mostly the Redis round trip: ~0.4 ms in-process, about "
        "twice that in daphne under load, where the request thread gives up the GIL for the socket read and "
        "waits to get it back; and each request still makes three hops to its thread (request_started, the "
        "chain, response.close). The lead then took the last three steps (09:10-09:45, load 1-4): one redis.Redis "
        "client per pool in digis/cache.py (API 1.90 -> 1.73 ms, 838 -> 897 req/s, p95 60 -> 57 ms); each web "
        "process answering from its own 1 s copy of the shared anonymous response, which removes that Redis "
        "round trip from most hits (API 1.73 -> 1.19 ms, 1414 req/s, p95 42 ms; the search row still 56 ms, "
        "p99 222 ms); and concurrent misses of one entry sharing one build: the search row's first round had "
        "16 requests per process running the same full-text query at once after its entry expired between "
        "rounds (round p95 191 ms), now one builds and the others wait for it (search p95 44 ms). For comparison, session 2's final run (2026-11-22 07:40, before these "
        "changes, load falling from 14): minimal 1234 req/s p95 115 ms, API 623 req/s p95 173 ms, page 536 "
        "req/s p95 160 ms.\n\n"
    )
    print(f"wrote {write_results_section(SECTION, body)}")


if __name__ == "__main__":
    main()
