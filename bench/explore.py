#!/usr/bin/env python3
"""Explore under load, in production configuration: signed-in and anonymous
clients, warm and cold caches, 10,000 or 100,000 creators.

    .venv/bin/python bench/explore.py [--creators 10000] [--clients 32] [--seconds 8] [--rounds 3] [--workers 2]

Starts its own PostgreSQL (normal durability) and Redis on free loopback
ports, migrates, seeds ``--creators`` creators with SQL (generate_series: names,
bios, 1-5 categories each, a long-tailed follower count, 2% of them online)
and ``--clients`` fans, each with a session of their own (every fourth has
blocked three popular creators and been blocked by one, so the per-viewer
path runs), collects static files, starts a Celery worker with beat, and two
sets of web processes started as the Procfile starts them
(``python -m digis.server``):

    warm  production settings: DEBUG off, Redis cache, the global rate limiter
          on (its Redis round trip paid on every request), Explore's caches
    cold  the same with Explore's caches off (CREATORS_ANONYMOUS_CACHE_S,
          CREATORS_PAGE_CACHE_S and CREATORS_CARD_CACHE_S = 0): every request
          reads the page and its cards from PostgreSQL

Each client talks as if through a TLS proxy (TRUSTED_PROXY_COUNT=1,
SECURE_PROXY_SSL_HEADER): X-Forwarded-Proto: https and an address of its own
in X-Forwarded-For, which is what the rate limiter counts by. One client
makes ~30-50 requests a second, far more than a person, so GLOBAL_RATE_LIMIT
is raised to 10,000,000/m for the run: every request still pays the
limiter's Redis round trips (the "Redis cmds/req" column shows them), none
is refused.

Targets, interleaved round by round (every target once per round, in turn)
so that the machine's noise hits them alike:

    minimal       a view returning "ok" behind the same middleware (creators.bench_urls)
    anon_*        anonymous clients: the API, the page, category + sort, search, online first
    signed_*      signed-in clients, each its own user: the same URLs
    cold_*        anonymous and signed-in clients against the cold set: many
                  distinct URLs (every category, sorts, pages 2-4, a dozen searches)

The load client is wrk (C, keep-alive, one connection per client; installed
with apt-get when missing); with two web processes the clients are split
evenly over them, as a load balancer would, and their latency quantiles
(bench/explore_wrk.lua) merged into one distribution. Besides latency and
throughput each row has the CPU per request of the web processes, PostgreSQL
and Redis (from /proc) and the Redis commands per request.

The run's figures are appended to the "Creators: Explore" section of
bench/RESULTS.md with date, commit and load before and after (earlier runs
stay as they are); --no-write prints only. Experiments: --variant NAME:ENV=V,...
(another set of warm web processes with that environment, interleaved with
the rest), --only, --env, --py-spy (all imply --no-write).
"""

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    Postgres, Redis, Run, append_run, process_cpu_seconds, record_target, start_web, stop_processes,
)

PY = str(ROOT / ".venv" / "bin" / "python")
SECTION = "## Creators: Explore"
WRK_SCRIPT = ROOT / "bench" / "explore_wrk.lua"
TARGET_P95_MS = 50
TARGET_SHARE = 0.40
TARGET_COLD_P95_MS = 150
COLD_CREATORS = 100_000  # the size the cold target is set for

FIRST = ("Luna Kai Maya Theo Zara Noah Ivy Omar Ana Ben Cleo Dev Eli Fay Gus Hana Ian Jo Kim Leo Mia Ned Ola Pia Raj Sam "
         "Tia Uma Vic Wes Xia Yan Zoe").split()
LAST = "Park Moreno Chen Brandt Okafor Silva Laurent Haddad Novak Rossi Tanaka Khan Berg Costa Diaz Evans Fox Gray Hill Ito".split()
WORDS = ("music gaming yoga cooking synth speedrun coach fashion travel guitar tarot fitness art comedy tech finance "
         "languages dance").split()


# --- seeding --------------------------------------------------------------------------


def _sql_array(words) -> str:
    return "ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


def _filler(pg: Postgres, table: str, given: set[str]) -> dict[str, str]:
    """SQL values for the NOT NULL columns without a default that the seed does
    not set (a column added later must not break the benchmark)."""
    rows = pg.psql(f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}' "
                   "AND is_nullable = 'NO' AND column_default IS NULL")
    by_type = {"boolean": "false", "uuid": "gen_random_uuid()", "jsonb": "'{}'", "json": "'{}'"}
    filler = {}
    for line in rows.splitlines():
        name, data_type = line.split("|")
        if name in given:
            continue
        if data_type.startswith(("character", "text")):
            filler[name] = "''"
        elif data_type in ("integer", "smallint", "bigint", "numeric"):
            filler[name] = "0"
        elif data_type.startswith("timestamp") or data_type == "date":
            filler[name] = "now()"
        else:
            filler[name] = by_type.get(data_type, "DEFAULT")
    return filler


def seed_creators(pg: Postgres, n: int) -> float:
    """``n`` creators in one SQL transaction (no ORM); returns the seconds it took."""
    started = time.monotonic()
    user = {
        "id": "s.id", "password": "'!'", "username": "'creator' || s.n", "email": "'creator' || s.n || '@bench.test'",
        "role": "'creator'", "display_name": "s.name", "is_active": "true", "is_staff": "false", "is_superuser": "false",
        "first_name": "''", "last_name": "''", "date_joined": "s.created_at", "created_at": "s.created_at",
        "updated_at": "s.created_at", "email_verified": "true", "auth_version": "0", "avatar": "''", "ban_reason": "''",
    }
    user.update(_filler(pg, "accounts_user", set(user)))
    profile = {
        "user_id": "s.id", "display_name": "s.name", "bio": "s.bio", "avatar": "''", "cover": "''",
        "video_call_rate": "20 + floor(random() * 180)::int", "voice_call_rate": "10 + floor(random() * 90)::int",
        "message_price": "5 + floor(random() * 45)::int", "min_call_minutes": "1", "do_not_disturb": "random() < 0.05",
        "message_policy": "'anyone'", "follower_count": "s.followers", "created_at": "s.created_at",
        "updated_at": "s.created_at",
    }
    profile.update(_filler(pg, "creators_creatorprofile", set(profile)))
    sql = f"""
BEGIN;
SELECT setseed(0.42);
CREATE TEMP TABLE seed AS
SELECT n, gen_random_uuid() AS id,
       ({_sql_array(FIRST)})[1 + floor(random() * {len(FIRST)})::int] || ' ' ||
       ({_sql_array(LAST)})[1 + floor(random() * {len(LAST)})::int] AS name,
       (SELECT string_agg(({_sql_array(WORDS)})[1 + floor(random() * {len(WORDS)})::int], ' ')
          FROM generate_series(1, 12) WHERE g.n >= 0) AS bio,
       -- Pareto(1.2) x 10: most creators have a few followers, a few have very many.
       LEAST(floor(10 * power(1 - random(), -1 / 1.2)), 5000000)::int AS followers,
       now() - random() * interval '365 days' AS created_at
  FROM generate_series(0, {n - 1}) AS g(n);
INSERT INTO accounts_user ({", ".join(user)}) SELECT {", ".join(user.values())} FROM seed s;
INSERT INTO creators_creatorprofile ({", ".join(profile)}) SELECT {", ".join(profile.values())} FROM seed s;
INSERT INTO creators_creatorcategory (profile_id, category_id, position)
SELECT id, category_id, rn FROM (
    SELECT s.id, c.id AS category_id, s.k, row_number() OVER (PARTITION BY s.id ORDER BY random()) AS rn
      FROM (SELECT id, 1 + floor(random() * 5)::int AS k FROM seed) s CROSS JOIN creators_category c
) picks WHERE rn <= k;
COMMIT;
VACUUM ANALYZE;
"""
    pg.psql(sql)
    return time.monotonic() - started


VIEWERS = r"""
import json, os, random
from django.conf import settings
from django.test import Client
from accounts.models import Block, User
from creators.models import CreatorProfile
from digis.realtime import presence

clients = int(os.environ["BENCH_CLIENTS"])
rng = random.Random(7)
popular = list(CreatorProfile.objects.order_by("-follower_count").values_list("user_id", flat=True)[:60])
cookies, viewers = [], []
run = os.urandom(3).hex()
for i in range(clients):
    fan = User.objects.create_user(username=f"fan{run}x{i}", email=f"fan{run}x{i}@bench.test", password=None, role="fan",
                                   email_verified=True)
    hidden = []
    if i % 4 == 1:  # every fourth viewer has blocks: the per-viewer path (no shared page order)
        for creator_id in rng.sample(popular, 4)[:3]:
            Block.objects.create(blocker=fan, blocked_id=creator_id)
            hidden.append(str(creator_id))
        blocker = rng.choice([c for c in popular if str(c) not in hidden])
        Block.objects.create(blocker_id=blocker, blocked=fan)
        hidden.append(str(blocker))
    client = Client()
    client.force_login(fan)
    cookies.append(f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")
    viewers.append({"id": str(fan.pk), "hidden": hidden})
# 2% of creators online (presence counters in Redis, PRESENCE_TTL_S long enough for the run).
online = list(CreatorProfile.objects.order_by("?").values_list("user_id", flat=True)[: max(1, CreatorProfile.objects.count() // 50)])
for creator_id in online:
    presence.mark_connected(creator_id)
from creators.selectors import sweep_online_creators
sweep_online_creators()
out = os.environ["BENCH_OUT"]
with open(out + ".cookies", "w") as f:
    f.write("\n".join(cookies) + "\n")
with open(out + ".json", "w") as f:
    json.dump({"viewers": viewers, "online": len(online)}, f)
"""


# --- load client ------------------------------------------------------------------------


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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """CPU of each party sharing the cores, and Redis commands, over a stretch of load."""

    def __init__(self, pg: Postgres, redis: Redis):
        self.pg, self.redis = pg, redis

    def snapshot(self, web_pids):
        return {"web": process_cpu_seconds(web_pids), "pg": self.pg.cpu_seconds(),
                "redis": process_cpu_seconds([self.redis.pid]), "wrk": children_cpu(),
                "redis_cmds": self.redis.commands()}

    @staticmethod
    def spent(before, after):
        return {key: after[key] - before[key] for key in before}


def load(wrk, ports, paths, *, seconds, clients, tmpdir, cookies=None, base=0):
    """``clients`` keep-alive clients for ``seconds``, split evenly over ``ports``
    (one wrk per port, one thread per client); returns (requests, errors,
    elapsed s, weighted latency samples in s)."""
    runs = []
    for i, port in enumerate(ports):
        share = clients // len(ports) + (1 if i < clients % len(ports) else 0)
        if share == 0:
            continue
        out = Path(tmpdir) / f"wrk-{port}.txt"
        env = {**os.environ, "WRK_PATHS": " ".join(paths), "WRK_OUT": str(out), "WRK_CLIENT_BASE": str(base),
               "WRK_COOKIES": cookies or ""}
        base += share
        command = [wrk, f"-t{share}", f"-c{share}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
                   f"http://127.0.0.1:{port}"]
        runs.append((subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL), out))
    requests = errors = 0
    elapsed = 0.0
    samples = []
    for process, out in runs:
        process.wait()
        fields, quantiles = {}, []
        for line in out.read_text().splitlines():
            name, value = line.split()
            if name == "q":
                quantiles.append(int(value) / 1e6)
            else:
                fields[name] = int(value)
        requests += fields["requests"]
        errors += fields["errors"]
        elapsed = max(elapsed, fields["duration_us"] / 1e6)
        weight = fields["requests"] / len(quantiles)  # each quantile stands for an equal share of the run
        samples += [(value, weight) for value in quantiles]
    return requests, errors, elapsed, samples


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


# --- what is asked ----------------------------------------------------------------------

CATEGORIES = ("music gaming fitness yoga cooking fashion beauty art comedy education languages tech finance dating "
              "spirituality travel sports").split()
WARM_SEARCHES = ["Luna", "guitar", "Moreno"]
COLD_SEARCHES = ["Luna", "guitar", "Moreno", "Lunna Park", "synth coach", "Tanaka", "tarot", "Zoe Ito", "speedrun",
                 "creator123", "Okafr", "dance yoga"]


def http_get(port, path, cookie=None, address="10.78.0.1"):
    headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def cursor_pages(port, path, pages):
    """``path`` and the URLs of its next ``pages`` - 1 pages (keyset cursors)."""
    from urllib.parse import urlsplit

    found = [path]
    for _ in range(pages - 1):
        status, body = http_get(port, found[-1])
        next_url = json.loads(body)["next"]
        if not next_url:
            break
        parts = urlsplit(next_url)
        found.append(f"{parts.path}?{parts.query}")
    return found


def targets_for(port, cookies_file, viewers):
    """name -> (server set, signed in?, paths)."""
    searches = [f"/api/creators/?q={q.replace(' ', '+')}" for q in WARM_SEARCHES]
    targets = {
        "minimal": ("warm", False, ["/bench/minimal/"]),
        "anon_api": ("warm", False, ["/api/creators/"]),
        "anon_page": ("warm", False, ["/explore/"]),
        "anon_cat": ("warm", False, ["/api/creators/?category=gaming&sort=new"]),
        "anon_q": ("warm", False, searches),
        "anon_online": ("warm", False, ["/api/creators/?sort=online"]),
        "signed_api": ("warm", True, ["/api/creators/"]),
        "signed_page": ("warm", True, ["/explore/"]),
        "signed_cat": ("warm", True, ["/api/creators/?category=gaming&sort=new"]),
        "signed_q": ("warm", True, searches),
        "signed_online": ("warm", True, ["/api/creators/?sort=online"]),
    }
    cold_sorts = (cursor_pages(port, "/api/creators/", 4) + cursor_pages(port, "/api/creators/?sort=new", 3)
                  + cursor_pages(port, "/api/creators/?sort=online", 2))
    cold_categories = [f"/api/creators/?category={slug}" + ("&sort=new" if i % 2 else "") for i, slug in enumerate(CATEGORIES)]
    cold_search = [f"/api/creators/?q={q.replace(' ', '+')}" for q in COLD_SEARCHES]
    cold_pages = ["/explore/", "/explore/?sort=new"] + [f"/explore/tag/{slug}/" for slug in CATEGORIES[:8]]
    targets.update({
        "cold_sorts": ("cold", False, cold_sorts),
        "cold_cat": ("cold", False, cold_categories),
        "cold_q": ("cold", False, cold_search),
        "cold_page": ("cold", False, cold_pages),
        "cold_signed": ("cold", True, cold_sorts[:3] + cold_categories[:6] + cold_search[:4] + cold_pages[:3]),
    })
    return targets


def check_targets(servers, targets, cookies, viewers):
    """Every URL answers 200 to an anonymous and to a signed-in client, and a
    viewer with blocks never sees whom they hid (or who hid them)."""
    blocked = next(i for i, v in enumerate(viewers) if v["hidden"])
    for name, (server_set, signed, paths) in targets.items():
        port = servers[server_set][0][0]
        for path in paths:
            cookie = cookies[blocked] if signed else None
            status, body = http_get(port, path, cookie)
            assert status == 200, (name, path, status)
            if signed and path.startswith("/api/creators/"):
                ids = {card["id"] for card in json.loads(body)["results"]}
                assert not ids & set(viewers[blocked]["hidden"]), (name, path, "a hidden creator is listed")
    # The sessions are real: each cookie is a signed-in fan.
    for cookie, viewer in zip(cookies, viewers):
        status, body = http_get(servers["warm"][0][0], "/api/me/", cookie)
        assert status == 200 and json.loads(body)["id"] == viewer["id"], (status, body[:200])


# --- the run ----------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creators", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="web processes per set (production: one per core)")
    parser.add_argument("--single-seconds", type=int, default=3, help="seconds of the one-client (service time) run per target")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--only", default="", help="comma-separated targets (minimal always runs); implies --no-write")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for every web process, for experiments; implies --no-write")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:NAME=VALUE,...",
                        help="experiment: another set of warm web processes with this extra environment; its "
                             "targets (warm ones, prefixed NAME/) interleave with the others; implies --no-write")
    parser.add_argument("--py-spy", metavar="PREFIX", help="sample the first web process of each target's set with "
                        "py-spy (installed separately) during round 1; PREFIX-<target>.txt gets raw stacks")
    args = parser.parse_args()
    experiment = bool(args.only or args.env or args.variant or args.py_spy)

    wrk = ensure_wrk()
    command = " ".join(["bench/explore.py", *sys.argv[1:]])
    run = Run(command)
    pg = Postgres(durable=True, max_connections=200)
    redis = Redis()
    processes = []
    try:
        pg.start()
        redis.start()
        workdir = Path(pg.workdir)
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            # As behind one TLS-terminating proxy: the client's address and scheme come in headers.
            "TRUSTED_PROXY_COUNT": "1",
            "SECURE_PROXY_SSL_HEADER": "true",
            # On, and paid on every request; high enough that no benchmark client is refused.
            "RATELIMIT_ENABLE": "true",
            "GLOBAL_RATE_LIMIT": "10000000/m",
            "LOG_LEVEL": "WARNING",
            "DIGIS_TESTING": "0",
            "CREATORS_BENCH_URLS": "1",
            "DB_POOL_MAX_SIZE": str(args.clients + 4),
            "DJANGO_SETTINGS_MODULE": "digis.settings",
            **dict(item.split("=", 1) for item in args.env),
        }
        def manage(*words, extra_env=None, **kw):
            subprocess.run([PY, "manage.py", *words], cwd=ROOT, env={**env, **(extra_env or {})}, check=True, **kw)

        print("migrating ...", flush=True)
        manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
        manage("collectstatic", "--noinput", stdout=subprocess.DEVNULL)
        print(f"seeding {args.creators} creators ...", flush=True)
        seeded_s = seed_creators(pg, args.creators)
        print(f"seeded in {seeded_s:.1f} s", flush=True)
        out = str(workdir / "viewers")
        manage("shell", "-c", VIEWERS, extra_env={"BENCH_CLIENTS": str(args.clients), "BENCH_OUT": out,
                                                  "PRESENCE_TTL_S": "86400"})
        cookies_file = out + ".cookies"
        cookies = Path(cookies_file).read_text().split()
        seeded = json.loads(Path(out + ".json").read_text())
        viewers = seeded["viewers"]
        # A Celery worker with beat, as in production: the creators' online sweep and the other periodic jobs.
        processes.append(subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "digis", "worker", "-B", "--pool", "solo",
             "-s", str(workdir / "beat-schedule"), "--loglevel", "WARNING"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cold_env = {"CREATORS_ANONYMOUS_CACHE_S": "0", "CREATORS_PAGE_CACHE_S": "0", "CREATORS_CARD_CACHE_S": "0"}
        sets = {"warm": {}, "cold": cold_env}
        for spec in args.variant:
            name, _, items = spec.partition(":")
            sets[name] = dict(item.split("=", 1) for item in items.split(",") if item)
        servers = {}
        for name, extra in sets.items():
            ports, web = start_web(args.workers, {**env, **extra}, log_dir=str(workdir))
            processes += web
            servers[name] = (ports, [p.pid for p in web])
        targets = targets_for(servers["warm"][0][0], cookies_file, viewers)
        for variant in args.variant:
            name = variant.partition(":")[0]
            targets.update({f"{name}/{t}": (name, signed, paths) for t, (s, signed, paths) in list(targets.items())
                            if s == "warm"})
        if args.only:
            wanted = {"minimal", *args.only.split(",")}
            targets = {t: v for t, v in targets.items() if t.split("/")[-1] in wanted}
        check_targets(servers, targets, cookies, viewers)
        meter = Meter(pg, redis)
        print("warming up ...", flush=True)
        for name, (server_set, signed, paths) in targets.items():
            load(wrk, servers[server_set][0], paths, seconds=2, clients=min(4, args.clients), tmpdir=workdir,
                 cookies=cookies_file if signed else None)
        results = {name: {"requests": 0, "errors": 0, "time": 0.0, "samples": [], "cpu": {}} for name in targets}
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}, load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
            for name, (server_set, signed, paths) in targets.items():
                ports, pids = servers[server_set]
                spy = None
                if args.py_spy and round_no == 0:
                    spy = subprocess.Popen([str(Path(PY).with_name("py-spy")), "record", "--pid", str(pids[0]), "--rate",
                                            "250", "--nonblocking", "--gil", "--format", "raw", "--output",
                                            f"{args.py_spy}-{name.replace('/', '-')}.txt"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                before = meter.snapshot(pids)
                requests, errors, elapsed, samples = load(wrk, ports, paths, seconds=args.seconds, clients=args.clients,
                                                          tmpdir=workdir, cookies=cookies_file if signed else None)
                spent = meter.spent(before, meter.snapshot(pids))
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(30)
                data = results[name]
                data["requests"] += requests
                data["errors"] += errors
                data["time"] += elapsed
                data["samples"] += samples
                for key, value in spent.items():
                    data["cpu"][key] = data["cpu"].get(key, 0) + value
                n = max(requests, 1)
                print(f"  {name:22s} {requests / elapsed:7.1f} req/s p50 {percentile(samples, .5) * 1000:6.1f} "
                      f"p95 {percentile(samples, .95) * 1000:6.1f} ms; CPU ms/req web {spent['web'] * 1000 / n:.2f} "
                      f"pg {spent['pg'] * 1000 / n:.2f} redis {spent['redis'] * 1000 / n:.2f}; "
                      f"redis cmds/req {spent['redis_cmds'] / n:.1f}; errors {errors}", flush=True)
        single = {}
        for name, (server_set, signed, paths) in targets.items():
            _, _, _, samples = load(wrk, servers[server_set][0][:1], paths, seconds=args.single_seconds, clients=1,
                                    tmpdir=workdir, cookies=cookies_file if signed else None)
            single[name] = (percentile(samples, .5) * 1000, percentile(samples, .95) * 1000)
    finally:
        stop_processes(processes)
        redis.stop()
        pg.stop()
    run.finish()

    rows = []
    for name, data in results.items():
        server_set, signed, paths = targets[name]
        prefix = name.split("/")[0] + "/" if "/" in name else ""
        minimal = results.get(prefix + "minimal", results["minimal"])
        rps = data["requests"] / data["time"]
        n = max(data["requests"], 1)
        samples = data["samples"]
        rows.append({
            "name": name, "set": server_set, "signed": signed, "path": paths[0], "urls": len(paths), "rps": rps,
            "p50": percentile(samples, .5) * 1000, "p95": percentile(samples, .95) * 1000,
            "p99": percentile(samples, .99) * 1000, "share": rps / (minimal["requests"] / minimal["time"]),
            "errors": data["errors"], "single": single[name],
            **{f"cpu_{k}": v * 1000 / n for k, v in data["cpu"].items() if k != "redis_cmds"},
            "redis_cmds": data["cpu"].get("redis_cmds", 0) / n,
        })
    table = format_table(rows, args.clients)
    print(table)
    verdicts = judge(rows, args)
    for line in verdicts["lines"]:
        print(line)
    if not (args.no_write or experiment):
        body = write_body(run, args, rows, table, verdicts, seeded_s, seeded["online"])
        print(f"appended to {append_run(SECTION, body)}")
    if not experiment:
        for bench, target, measured, goal, met in verdicts["summary"]:
            record_target(bench, target, measured, goal, met)


def format_table(rows, clients):
    header = (f"| target | clients | set | first URL (of n) | req/s ({clients} clients) | p50 ms | p95 ms | p99 ms | "
              "vs minimal | errors | 1 client p50 / p95 ms | CPU ms/req: web | PostgreSQL | Redis | wrk | Redis cmds/req |\n"
              "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    for r in rows:
        lines.append(
            f"| {r['name']} | {'signed in' if r['signed'] else 'anonymous'} | {r['set']} | `{r['path']}` ({r['urls']}) "
            f"| {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['share']:.0%} | {r['errors']} "
            f"| {r['single'][0]:.1f} / {r['single'][1]:.1f} | {r['cpu_web']:.2f} | {r['cpu_pg']:.2f} | {r['cpu_redis']:.2f} "
            f"| {r['cpu_wrk']:.2f} | {r['redis_cmds']:.1f} |")
    return "\n".join(lines)


def judge(rows, args):
    """Each target's verdict, as lines for RESULTS.md and rows for `make bench`'s summary."""
    lines, summary = [], []
    size = f"{args.creators:,} creators"
    for r in rows:
        if r["name"].endswith("minimal") or "/" in r["name"]:
            continue
        if r["set"] == "warm":
            p95_ok = r["p95"] < TARGET_P95_MS and not r["errors"]
            share_ok = r["share"] >= TARGET_SHARE
            lines.append(f"{r['name']}: p95 {r['p95']:.0f} ms ({'met' if p95_ok else 'NOT met'}), "
                         f"{r['share']:.0%} of minimal's req/s ({'met' if share_ok else 'NOT met'})"
                         + (f", {r['errors']} errors" if r["errors"] else ""))
            summary.append(("explore", f"{r['name']} p95 at {args.clients} clients, {size}", f"{r['p95']:.0f} ms",
                            f"< {TARGET_P95_MS} ms", p95_ok))
            summary.append(("explore", f"{r['name']} req/s vs minimal view, {size}", f"{r['share']:.0%}",
                            f">= {TARGET_SHARE:.0%}", share_ok))
        elif r["set"] == "cold":
            ok = r["p95"] < TARGET_COLD_P95_MS and not r["errors"]
            binding = args.creators >= COLD_CREATORS
            lines.append(f"{r['name']}: p95 {r['p95']:.0f} ms ({'met' if ok else 'NOT met'}"
                         f"{'' if binding else ', the target is set for 100,000 creators'})")
            summary.append(("explore", f"{r['name']} (caches off) p95 at {args.clients} clients, {size}",
                            f"{r['p95']:.0f} ms", f"< {TARGET_COLD_P95_MS} ms", ok if binding else None))
    return {"lines": lines, "summary": summary}


def write_body(run, args, rows, table, verdicts, seeded_s, online):
    return (
        run.heading("Run")
        + f"{args.creators:,} creators (seeded with SQL in {seeded_s:.0f} s; {online} of them online), {args.clients} clients "
        f"(wrk, one connection and one thread each, split evenly over {args.workers} web processes per set started as "
        "the Procfile does), "
        f"{args.rounds} rounds of {args.seconds} s per target, targets interleaved round by round. Production "
        "settings: DEBUG off, PostgreSQL (normal durability) and Redis on loopback, a Celery worker with beat, "
        "the global rate limiter on with each client its own address (X-Forwarded-For through TRUSTED_PROXY_COUNT=1, "
        "X-Forwarded-Proto: https) and GLOBAL_RATE_LIMIT raised to 10,000,000/m so that no client is refused while "
        "every request still pays its round trips. Signed-in clients are each their own fan with a session; every "
        "fourth has blocks. Set `cold`: Explore's caches off (anonymous response, page order, cards). "
        "CPU columns: milliseconds of CPU per request of the web processes, PostgreSQL, Redis and wrk, from /proc.\n\n"
        f"{table}\n\n"
        f"Targets: signed-in and anonymous p95 < {TARGET_P95_MS} ms at {args.clients} clients and >= "
        f"{TARGET_SHARE:.0%} of the minimal view's req/s; caches off, p95 < {TARGET_COLD_P95_MS} ms at "
        f"{COLD_CREATORS:,} creators.\n\n" + "\n".join(f"- {line}" for line in verdicts["lines"]) + "\n"
    )


if __name__ == "__main__":
    main()
