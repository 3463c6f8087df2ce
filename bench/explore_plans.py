#!/usr/bin/env python3
"""The SQL a cold Explore request runs, with PostgreSQL's plans, over many creators.

    .venv/bin/python bench/explore_plans.py [--creators 100000] [--keep]

Starts a throwaway PostgreSQL and Redis, migrates, seeds ``--creators``
creators exactly as bench/explore.py does (same SQL, same seed), then asks
every URL of explore.py's cold targets once with Explore's caches off, as an
anonymous visitor and as a signed-in fan with blocks, captures the queries
each request ran and prints EXPLAIN (ANALYZE, BUFFERS) for every SELECT that
took longer than ``--min-ms`` (all of them with 0), slowest first. Prints
only; writes nothing. ``--repeat`` runs each URL that many times first so the
plans are of a warm buffer cache, as under load.
"""

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from explore import CATEGORIES, COLD_SEARCHES, PY, seed_creators  # noqa: E402
from servers import Postgres, Redis  # noqa: E402

PLANS = r"""
import json, os, time
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from accounts.models import Block, User
from creators.models import CreatorProfile

urls = json.loads(os.environ["PLAN_URLS"])
repeat = int(os.environ["PLAN_REPEAT"])
min_ms = float(os.environ["PLAN_MIN_MS"])
fan = User.objects.create_user(username="planfan", email="planfan@bench.test", password=None, role="fan")
for creator_id in CreatorProfile.objects.order_by("-follower_count").values_list("user_id", flat=True)[:3]:
    Block.objects.create(blocker=fan, blocked_id=creator_id)
signed = Client()
signed.force_login(fan)
found = []
for who, client in (("anonymous", Client()), ("signed in", signed)):
    for url in urls:
        for _ in range(repeat):
            client.get(url, HTTP_X_FORWARDED_PROTO="https")
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            status = client.get(url, HTTP_X_FORWARDED_PROTO="https").status_code
            total = (time.perf_counter() - started) * 1000
        assert status == 200, (url, status)
        selects = [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
        print(f"{who:9s} {total:7.1f} ms {len(ctx.captured_queries):2d} queries  {url}")
        for q in selects:
            found.append((float(q["time"]) * 1000, who, url, q["sql"]))
found.sort(key=lambda row: -row[0])
print()
with connection.cursor() as cursor:
    seen = set()
    for ms, who, url, sql in found:
        if ms < min_ms or sql in seen:
            continue
        seen.add(sql)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        print(f"==== {ms:.1f} ms ({who}, {url})\n{sql}\n{plan}\n")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creators", type=int, default=100_000)
    parser.add_argument("--min-ms", type=float, default=2.0, help="explain queries that took at least this long")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--url", action="append", default=[], help="these URLs instead of the cold targets' ones")
    parser.add_argument("--keep", action="store_true", help="leave PostgreSQL and Redis running with the seeded creators (prints their URLs; stop them yourself)")
    args = parser.parse_args()
    urls = args.url or (
        ["/api/creators/", "/api/creators/?sort=new", "/api/creators/?sort=online", "/explore/", "/explore/?sort=new"]
        + [f"/api/creators/?category={slug}" + ("&sort=new" if i % 2 else "") for i, slug in enumerate(CATEGORIES)]
        + [f"/api/creators/?q={q.replace(' ', '+')}" for q in COLD_SEARCHES]
        + [f"/explore/tag/{slug}/" for slug in CATEGORIES[:3]]
    )
    pg, redis = Postgres(durable=False), Redis()
    try:
        pg.start()
        redis.start()
        env = {
            **os.environ, "DATABASE_URL": pg.url, "REDIS_URL": redis.url, "DEBUG": "false", "ALLOWED_HOSTS": "*",
            "SECRET_KEY": secrets.token_urlsafe(64), "RATELIMIT_ENABLE": "false", "LOG_LEVEL": "WARNING",
            "SECURE_PROXY_SSL_HEADER": "true", "TRUSTED_PROXY_COUNT": "1",
            "CREATORS_ANONYMOUS_CACHE_S": "0", "CREATORS_PAGE_CACHE_S": "0", "CREATORS_CARD_CACHE_S": "0",
            "DJANGO_SETTINGS_MODULE": "digis.settings", "PLAN_URLS": __import__("json").dumps(urls),
            "PLAN_REPEAT": str(args.repeat), "PLAN_MIN_MS": str(args.min_ms),
        }
        subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"seeded {args.creators} creators in {seed_creators(pg, args.creators):.0f} s", flush=True)
        subprocess.run([PY, "manage.py", "shell", "-c", PLANS], cwd=ROOT, env=env, check=True)
        if args.keep:
            print(f"kept: DATABASE_URL={pg.url} REDIS_URL={redis.url} (PostgreSQL data in {pg.data})")
    finally:
        if not args.keep:
            redis.stop()
            pg.stop()


if __name__ == "__main__":
    main()
