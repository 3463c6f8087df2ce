"""Operations console benchmark: the dashboard over 1,000,000 calls and 10,000,000 ledger entries.

    .venv/bin/python bench/dashboard.py [--calls 1000000] [--entries 10000000] [--days 180] [--runs 40] [--no-write]

Starts a throwaway PostgreSQL and Redis on loopback, migrates, and seeds with
INSERT ... SELECT generate_series (not the ORM):

- 100,000 fans and 2,000 creators (bulk_create), their wallets and earnings
  accounts, 64 shards each of the platform-fee and Stripe-clearing accounts;
- ``--entries`` ledger entries over ``--days`` days: 90 % in charges (call
  70 %, tip 20 %, paid message 10 %: three entries each: fan wallet, creator
  earnings, fee shard; creators Zipf-like, a few earn most), 10 % in card
  purchases (two entries each) with their ``payments_purchase`` rows. The
  ledger's own triggers are disabled while seeding and enabled again (the
  rows balance; wallet balances are not maintained: nothing here reads them);
- ``--calls`` ended calls over the same days (outcomes mixed, durations up to
  30 minutes), plus 300 live and 200 ringing calls;
- 3,000 active users a day, and per-route latency histograms of 60 routes for
  every hour (what the recorder writes);
- 5,000 users online in the presence sorted set (Redis).

Then it runs the rollup job from nothing (the backfill) and once more (what
each periodic run costs), and measures through Django's test client (every
middleware, the view, the template), signed in as a member of the staff group:

- ``/staff/`` for 7, 30 and 90 days: p50 / p95 / max over ``--runs`` requests;
- ``/api/staff/analytics/?period=30d`` the same way;
- the "right now" read (``analytics.selectors.right_now``: Redis ZCOUNT,
  one COUNT over the live calls' partial index): median and p95 of 500, and
  EXPLAIN ANALYZE of the calls query;
- side by side, in the same run: the 7-day dashboard with the rollups hidden
  (their FillState rows deleted inside a transaction that is rolled back), so
  every number is computed from the source tables.

Writes the figures to the "## analytics: dashboard" section of bench/RESULTS.md.
"""

import argparse
import gc
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres, Redis, record_target, write_results_section  # noqa: E402  (bench/ is on sys.path when run as a script)

SECTION = "## analytics: dashboard"
FANS = 100_000
CREATORS = 2_000
ONLINE = 5_000
ROUTES = 60
ACTIVE_PER_DAY = 3_000


def seed(*, calls: int, entries: int, days: int) -> dict:
    from django.db import connection

    from accounts.models import User

    timings = {}
    started = time.perf_counter()
    user_columns = ", ".join(f.column for f in User._meta.concrete_fields)
    user_values = {
        "password": "'!'", "last_login": "NULL", "is_superuser": "false", "is_staff": "false", "is_active": "true",
        "date_joined": "now()", "id": "gen_random_uuid()", "first_name": "''", "last_name": "''", "display_name": "''",
        "avatar": "''", "email_verified": "true", "auth_version": "0", "banned_at": "NULL", "banned_until": "NULL",
        "ban_reason": "''", "deleted_at": "NULL", "created_at": "now()", "updated_at": "now()",
    }
    with connection.cursor() as c:
        for prefix, role, count in (("fan", "fan", FANS), ("creator", "creator", CREATORS)):
            values = {**user_values, "username": f"'{prefix}' || g", "email": f"'{prefix}' || g || '@bench.test'", "role": f"'{role}'"}
            c.execute(f"INSERT INTO accounts_user ({user_columns}) SELECT {', '.join(values[f.column] for f in User._meta.concrete_fields)} "
                      f"FROM generate_series(0, {count} - 1) g")
    timings["users"] = time.perf_counter() - started

    charges = entries * 9 // 10 // 3
    purchases = (entries - charges * 3) // 2
    span = f"interval '{days} days'"
    with connection.cursor() as c:
        c.execute("CREATE TEMP TABLE fans (n int PRIMARY KEY, id uuid)")
        c.execute("INSERT INTO fans SELECT row_number() OVER (ORDER BY username) - 1, id FROM accounts_user WHERE role = 'fan'")
        c.execute("CREATE TEMP TABLE creators (n int PRIMARY KEY, id uuid)")
        c.execute("INSERT INTO creators SELECT row_number() OVER (ORDER BY username) - 1, id FROM accounts_user WHERE role = 'creator'")

        started = time.perf_counter()
        c.execute("INSERT INTO ledger_account (kind, user_id, system_code, shard, balance, created_at) SELECT 'wallet', id, '', 0, 0, now() FROM fans")
        c.execute("INSERT INTO ledger_account (kind, user_id, system_code, shard, balance, created_at) SELECT 'earnings', id, '', 0, 0, now() FROM creators")
        c.execute("""INSERT INTO ledger_account (kind, user_id, system_code, shard, balance, created_at)
                     SELECT 'system', NULL, code, s, 0, now() FROM generate_series(0, 63) s, unnest(ARRAY['platform_fee', 'stripe_clearing']) code""")
        c.execute("CREATE TEMP TABLE wallets (n int PRIMARY KEY, account_id bigint)")
        c.execute("INSERT INTO wallets SELECT f.n, a.id FROM fans f JOIN ledger_account a ON a.user_id = f.id AND a.kind = 'wallet'")
        c.execute("CREATE TEMP TABLE earnings (n int PRIMARY KEY, account_id bigint)")
        c.execute("INSERT INTO earnings SELECT cr.n, a.id FROM creators cr JOIN ledger_account a ON a.user_id = cr.id AND a.kind = 'earnings'")
        c.execute("CREATE TEMP TABLE shards (code text, s int, account_id bigint, PRIMARY KEY (code, s))")
        c.execute("INSERT INTO shards SELECT system_code, shard, id FROM ledger_account WHERE kind = 'system'")

        c.execute("ALTER TABLE ledger_transaction DISABLE TRIGGER USER")
        c.execute("ALTER TABLE ledger_entry DISABLE TRIGGER USER")
        # Charges 1..charges, then purchases; both spread evenly over the days, newest now.
        c.execute(f"""
            INSERT INTO ledger_transaction (id, kind, idempotency_key, fingerprint, reference, memo, original_id, reversal_of_id, created_at)
            SELECT g, CASE WHEN g % 10 < 7 THEN 'call_charge' WHEN g % 10 < 9 THEN 'tip' ELSE 'message_charge' END,
                   'bench:charge:' || g, md5(g::text), '', '', NULL, NULL, now() - ({charges} - g)::float8 / {charges} * {span}
            FROM generate_series(1, {charges}) g
        """)
        c.execute(f"""
            INSERT INTO ledger_transaction (id, kind, idempotency_key, fingerprint, reference, memo, original_id, reversal_of_id, created_at)
            SELECT {charges} + g, 'purchase', 'pi_bench_' || g, md5('p' || g), 'purchase:bench', '', NULL, NULL,
                   now() - ({purchases} - g)::float8 / {purchases} * {span}
            FROM generate_series(1, {purchases}) g
        """)
        c.execute("SELECT setval(pg_get_serial_sequence('ledger_transaction', 'id'), (SELECT max(id) FROM ledger_transaction))")
        amount = "(10 + t.id % 90)"
        fee = f"({amount} * 2000 / 10000)"
        # A creator by a Zipf-like draw: u^3 of a pseudo-random u in [0, 1).
        creator = f"floor({CREATORS} * power(((t.id * 7919) % 1000003)::float8 / 1000003, 3))::int"
        columns = "INSERT INTO ledger_entry (transaction_id, account_id, amount, balance_after, created_at)"
        c.execute(f"{columns} SELECT t.id, w.account_id, -{amount}, NULL, t.created_at FROM ledger_transaction t JOIN wallets w ON w.n = t.id % {FANS} WHERE t.id <= {charges}")
        c.execute(f"{columns} SELECT t.id, e.account_id, {amount} - {fee}, NULL, t.created_at FROM ledger_transaction t JOIN earnings e ON e.n = {creator} WHERE t.id <= {charges}")
        c.execute(f"{columns} SELECT t.id, s.account_id, {fee}, NULL, t.created_at FROM ledger_transaction t JOIN shards s ON s.code = 'platform_fee' AND s.s = t.id % 64 WHERE t.id <= {charges}")
        tokens = "(100 * (1 + t.id % 5))"
        c.execute(f"{columns} SELECT t.id, s.account_id, -{tokens}, NULL, t.created_at FROM ledger_transaction t JOIN shards s ON s.code = 'stripe_clearing' AND s.s = t.id % 64 WHERE t.id > {charges}")
        c.execute(f"{columns} SELECT t.id, w.account_id, {tokens}, NULL, t.created_at FROM ledger_transaction t JOIN wallets w ON w.n = t.id % {FANS} WHERE t.id > {charges}")
        c.execute("ALTER TABLE ledger_transaction ENABLE TRIGGER USER")
        c.execute("ALTER TABLE ledger_entry ENABLE TRIGGER USER")
        c.execute(f"""
            INSERT INTO payments_purchase (id, user_id, package_id, tokens, amount_cents, currency, status, payment_intent_id, client_secret,
                                           charge_id, credit_transaction_id, refunded_cents, failure_reason, created_at, updated_at, succeeded_at)
            SELECT gen_random_uuid(), f.id, (SELECT min(id) FROM payments_tokenpackage), {tokens}, 499 * (1 + t.id % 5), 'usd', 'succeeded',
                   t.idempotency_key, '', 'ch_bench_' || t.id, t.id::text, 0, '', t.created_at, t.created_at, t.created_at
            FROM ledger_transaction t JOIN fans f ON f.n = t.id % {FANS} WHERE t.id > {charges}
        """)
        timings["ledger"] = time.perf_counter() - started

        started = time.perf_counter()
        call_columns = ("id, fan_id, creator_id, kind, rate, min_minutes, status, end_reason, requested_at, accepted_at, active_at, "
                        "ended_at, settled_at, minutes_charged, low_balance_warned_minute, active_seconds, tokens_charged, "
                        "tokens_refunded, creator_earnings, platform_fee")
        reasons = "(ARRAY['completed','completed','completed','completed','declined','missed','cancelled','dropped','insufficient_funds','failed'])"
        c.execute(f"""
            INSERT INTO calls_callsession ({call_columns})
            SELECT gen_random_uuid(), f.id, cr.id, CASE WHEN g % 3 = 0 THEN 'voice' ELSE 'video' END, 10 + g % 90, 1, 'ended', reason,
                   t, CASE WHEN reason IN ('declined', 'missed', 'cancelled') THEN NULL ELSE t + interval '5 s' END,
                   CASE WHEN reason IN ('declined', 'missed', 'cancelled', 'failed') THEN NULL ELSE t + interval '10 s' END,
                   t + interval '10 s' + seconds * interval '1 s', t + interval '20 min',
                   1 + seconds / 60, 0, seconds, 0, 0, 0, 0
            FROM generate_series(1::bigint, {calls}::bigint) g
            CROSS JOIN LATERAL (SELECT {reasons}[1 + g % 10] AS reason, now() - ({calls} - g)::float8 / {calls} * {span} - interval '31 min' AS t) AS a
            CROSS JOIN LATERAL (SELECT CASE WHEN reason IN ('declined', 'missed', 'cancelled', 'failed') THEN 0 ELSE (g * 37) % 1800 END AS seconds) AS b
            JOIN fans f ON f.n = g % {FANS}
            JOIN creators cr ON cr.n = floor({CREATORS} * power(((g * 7919) % 1000003)::float8 / 1000003, 3))::int
        """)
        c.execute(f"""
            INSERT INTO calls_callsession ({call_columns})
            SELECT gen_random_uuid(), f.id, cr.id, 'video', 60, 1, CASE WHEN g < 200 THEN 'requested' ELSE 'active' END, '',
                   now(), NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0
            FROM generate_series(0, 499) g JOIN fans f ON f.n = g JOIN creators cr ON cr.n = g
        """)
        timings["calls"] = time.perf_counter() - started

        started = time.perf_counter()
        c.execute(f"""
            INSERT INTO analytics_activeuserday (user_id, day)
            SELECT f.id, (now() AT TIME ZONE 'UTC')::date - d
            FROM generate_series(0, {days} - 1) d
            JOIN fans f ON f.n >= (d * 1013) % ({FANS} - {ACTIVE_PER_DAY}) AND f.n < (d * 1013) % ({FANS} - {ACTIVE_PER_DAY}) + {ACTIVE_PER_DAY}
        """)
        c.execute(f"""
            INSERT INTO analytics_routehour (hour, method, route, count, client_errors, server_errors, total_ms, buckets)
            SELECT date_trunc('hour', now()) - h * interval '1 hour', CASE WHEN r % 4 = 0 THEN 'POST' ELSE 'GET' END, 'api/bench/route' || r || '/',
                   200 + (h + r) % 50 + 62, (h + r) % 7, (h * r) % 3, 12.5 * (262 + (h + r) % 50),
                   jsonb_build_object('60', 200 + (h + r) % 50, '70', 50, '80', 10, '90', 2)
            FROM generate_series(0, {days} * 24 - 1) h, generate_series(1, {ROUTES}) r
        """)
        timings["activity"] = time.perf_counter() - started
        started = time.perf_counter()
        c.execute("VACUUM ANALYZE")
        timings["vacuum"] = time.perf_counter() - started
        c.execute("SELECT count(*) FROM ledger_entry")
        entry_count = c.fetchone()[0]
        c.execute("SELECT count(*) FROM calls_callsession")
        call_count = c.fetchone()[0]
    return {"timings": timings, "entries": entry_count, "calls": call_count, "charges": charges, "purchases": purchases}


def refill_hours() -> int:
    from django.conf import settings

    return settings.ANALYTICS_REFILL_HOURS


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))]


def timed_requests(client, url: str, runs: int, *, before=None) -> dict:
    client.get(url)  # warm: templates, the first connection
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return {"p50": statistics.median(samples), "p95": percentile(samples, 0.95), "max": max(samples), "runs": runs}


def profile(client, period: str = "7d") -> None:
    """Where one dashboard request spends its time: SQL (each query's wall time) and Python."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(f"/staff/?period={period}")
    with CaptureQueriesContext(connection) as queries:
        profiler = cProfile.Profile()
        profiler.enable()
        client.get(f"/staff/?period={period}")
        profiler.disable()
    timed = sorted(((float(q["time"]), q["sql"][:200]) for q in queries.captured_queries), reverse=True)
    print(f"{len(timed)} queries, {sum(t for t, _ in timed) * 1000:.0f} ms in SQL; slowest:")
    for seconds, sql in timed[:12]:
        print(f"  {seconds * 1000:8.1f} ms  {sql}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main():
    # A SIGTERM (timeout, Ctrl-C in a wrapper) still stops the servers below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--profile", nargs="?", const="7d", metavar="PERIOD", help="print one request's queries and a cProfile summary (default period 7d)")
    parser.add_argument("--keep", action="store_true", help="leave PostgreSQL and Redis running (prints their URLs; stop them yourself)")
    parser.add_argument("--reuse", nargs=2, metavar=("DATABASE_URL", "REDIS_URL"),
                        help="measure again against what a --keep run seeded and filled (no seeding, no backfill: "
                             "only the periodic re-run of the rollup job is timed); e.g. seed on a busy machine, measure on a quiet one")
    args = parser.parse_args()

    if args.reuse:
        pg = redis = None
        database_url, redis_url = args.reuse
    else:
        pg = Postgres(durable=False, max_connections=50, prefix="digis-bench-dashboard-").start()
        redis = Redis().start()
        database_url, redis_url = pg.url, redis.url
    try:
        os.environ.update({
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "DB_POOL": "false", "DB_STATEMENT_TIMEOUT_MS": "3600000",
            "ANALYTICS_FLUSH_S": "0", "LOG_LEVEL": "WARNING", "SLOW_QUERY_MS": "100000",
        })
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digis.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.contrib.auth.models import Group
        from django.core.management import call_command
        from django.db import connection, transaction
        from django.test import Client

        from accounts.models import User
        from analytics import rollups, selectors
        from analytics.models import FillState
        from digis.realtime import online_set

        load_before = os.getloadavg()
        if args.reuse:
            with connection.cursor() as c:
                c.execute("SELECT (SELECT count(*) FROM ledger_entry), (SELECT count(*) FROM calls_callsession), "
                          "(SELECT count(*) FROM ledger_transaction WHERE kind <> 'purchase'), "
                          "(SELECT count(*) FROM ledger_transaction WHERE kind = 'purchase')")
                entries, calls, charges, purchases = c.fetchone()
            seeded = {"entries": entries, "calls": calls, "charges": charges, "purchases": purchases, "seconds": None, "timings": {}}
            backfill_s = None
            print(f"reusing {entries:,} entries, {calls:,} calls")
        else:
            call_command("migrate", verbosity=0)
            started = time.perf_counter()
            seeded = seed(calls=args.calls, entries=args.entries, days=args.days)
            seeded["seconds"] = time.perf_counter() - started
            print(f"seeded {seeded['entries']:,} entries, {seeded['calls']:,} calls in {seeded['seconds']:.0f} s {seeded['timings']}")

            started = time.perf_counter()
            backfill = rollups.fill_all()
            backfill_s = time.perf_counter() - started
        started = time.perf_counter()
        rollups.fill_all()
        rerun_s = time.perf_counter() - started
        with connection.cursor() as c:
            c.execute("VACUUM ANALYZE")
            # Write what the job and VACUUM dirtied out now, not while requests are
            # timed (without this, the kernel's writeback put the machine in I/O wait
            # during the timed rounds).
            c.execute("CHECKPOINT")
        os.sync()
        with connection.cursor() as c:
            c.execute("SELECT (SELECT count(*) FROM analytics_hourlycount), (SELECT count(*) FROM analytics_dailycount), "
                      "(SELECT count(*) FROM analytics_creatordailycount)")
            rollup_rows = c.fetchone()
        print(f"backfill {'(earlier run)' if backfill_s is None else f'{backfill_s:.0f} s {backfill}'}, re-run {rerun_s:.1f} s, rows {rollup_rows}")

        client = online_set._redis()
        pipe = client.pipeline(transaction=False)
        for n in range(ONLINE):
            pipe.zadd(online_set._key(), {f"bench-user-{n}": time.time() + 90})
        pipe.execute()
        now_samples = []
        for _ in range(500):
            started = time.perf_counter()
            now = selectors.right_now()
            now_samples.append((time.perf_counter() - started) * 1000)
        assert now["users_online"] == ONLINE and now["live_calls"] == 300 and now["calls_ringing"] == 200, now
        with connection.cursor() as c:
            c.execute("EXPLAIN (ANALYZE, BUFFERS) SELECT status, count(id) FROM calls_callsession "
                      "WHERE status IN ('requested', 'accepted', 'active', 'paused') GROUP BY status")
            now_plan = "\n".join(row[0] for row in c.fetchall())
        right_now = {"p50": statistics.median(now_samples), "p95": percentile(now_samples, 0.95)}
        print(f"right now: {right_now}\n{now_plan}")

        staffer, _ = User.objects.get_or_create(username="bench-staff", defaults={"email": "staff@bench.test", "password": "!", "role": "admin"})
        staffer.groups.add(Group.objects.get(name="staff"))
        page = Client()
        page.force_login(staffer)
        # As served: the web process freezes what it loaded at start-up (digis/asgi.py),
        # so the collector's full passes do not walk Django's import graph in the middle
        # of a request (~240 ms each here, one in ~20 requests, before this).
        page.get("/staff/")
        gc.collect()
        gc.freeze()
        if args.profile:
            profile(page, args.profile)
        load_during = os.getloadavg()
        results = {}
        for period in ("7d", "30d", "90d"):
            results[f"/staff/?period={period}"] = timed_requests(page, f"/staff/?period={period}", args.runs)
            print(period, results[f"/staff/?period={period}"])
        # The settled days' parts (ranking heads, route sums) are computed by the
        # first request after the job's run or a rebuild and kept: every request
        # here computes them again.
        for period in ("7d", "30d", "90d"):
            url = f"/staff/?period={period}"
            results[f"{url} settled parts not kept"] = timed_requests(page, url, args.runs, before=selectors.forget_settled)
            print(period, "not kept", results[f"{url} settled parts not kept"])
        results["/api/staff/analytics/?period=30d"] = timed_requests(page, "/api/staff/analytics/?period=30d", args.runs)
        with transaction.atomic():
            FillState.objects.all().delete()
            live = timed_requests(page, "/staff/?period=7d", 3)
            transaction.set_rollback(True)
        print("live 7d", live)
        load_after = os.getloadavg()
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        kept = [r["p95"] for url, r in results.items() if " " not in url]
        cold = [r["p95"] for url, r in results.items() if " " in url]
        record_target("dashboard", f"/staff/ p95, {seeded['calls']:,} calls, {seeded['entries']:,} entries",
                      f"{max(kept):.0f} ms (worst of {len(kept)} requests' p95)", "< 200 ms", max(kept) < 200)
        record_target("dashboard", "/staff/ p95, settled parts computed by every request",
                      f"{max(cold):.0f} ms (worst of {len(cold)})", "< 200 ms", max(cold) < 200)
        record_target("dashboard", "right now, median", f"{right_now['p50']:.3f} ms", "< 1 ms", right_now["p50"] < 1)
        if not args.no_write:
            write_results(args, seeded, backfill_s, rerun_s, rollup_rows, right_now, now_plan, results, live,
                          (load_before, load_during, load_after), commit + ("+dirty" if dirty else ""), pg.settings() if pg else _server_settings(connection))
    finally:
        from django.db import connections

        connections.close_all()
        if args.reuse:
            pass  # not ours to stop
        elif args.keep:
            print(f"kept: DATABASE_URL={pg.url} REDIS_URL={redis.url} (pg_ctl -D {pg.data} stop; kill the redis in {redis.workdir})")
        else:
            pg.stop()
            redis.stop()


def _server_settings(connection) -> dict:
    with connection.cursor() as c:
        c.execute("SHOW server_version")
        return {"server_version": c.fetchone()[0]}


def write_results(args, seeded, backfill_s, rerun_s, rollup_rows, right_now, now_plan, results, live, loads, commit, pg_settings):
    rows = "\n".join(
        f"| `{url.split(' ', 1)[0]}`{(' ' + url.split(' ', 1)[1]) if ' ' in url else ''} | {r['p50']:.0f} | {r['p95']:.0f} | {r['max']:.0f} | {r['runs']} |"
        for url, r in results.items()
    )
    body = (
        f"{SECTION}\n\n"
        f"`bench/dashboard.py --calls {args.calls} --entries {args.entries} --days {args.days} --runs {args.runs}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}. Throwaway PostgreSQL "
        f"{pg_settings.get('server_version', '?')} (fsync off) and Redis on loopback, {os.cpu_count()} CPUs shared with other "
        f"engineers' test runs: load average {loads[0][0]:.1f} before seeding, {loads[1][0]:.1f} when the requests started, "
        f"{loads[2][0]:.1f} at the end. "
        + (f"Seeded with generate_series in {seeded['seconds']:.0f} s: " if seeded["seconds"] is not None
           else "Measured again (--reuse) against what an earlier --keep run seeded and backfilled: ")
        + f"{seeded['entries']:,} ledger "
        f"entries ({seeded['charges']:,} charges, {seeded['purchases']:,} card purchases), {seeded['calls']:,} calls "
        f"(500 of them live or ringing), {FANS:,} fans, {CREATORS:,} creators, {ACTIVE_PER_DAY:,} active users a day and "
        f"{ROUTES} routes' latency per hour over {args.days} days. The ledger's triggers were off while seeding.\n\n"
        + (f"Rollup job: the backfill from nothing took {backfill_s:.0f} s; " if backfill_s is not None else "Rollup job: ")
        + f"the next run (what every periodic run costs: new "
        f"hours, the {refill_hours()}-hour refill window, today's per-creator rows, the last days) {rerun_s:.1f} s. "
        f"Rows written: {rollup_rows[0]:,} hourly, {rollup_rows[1]:,} daily, {rollup_rows[2]:,} per creator and day.\n\n"
        f"Dashboard, signed in as the staff group, through Django's test client (all middleware, view, template; in-process, "
        f"one request at a time), after one warm-up request. Target: p95 < 200 ms. The settled days' parts (each ranking's "
        f"head, the route sums; analytics.selectors) are kept after the first request that computes them; the rows marked "
        f"\"settled parts not kept\" forget them before every request, as the first view after a rebuild does.\n\n"
        f"| request | p50 ms | p95 ms | max ms | requests |\n|---|---|---|---|---|\n{rows}\n"
        f"| `/staff/?period=7d` with the rollups hidden (every figure from the source tables; same run) | "
        f"{live['p50']:.0f} | {live['p95']:.0f} | {live['max']:.0f} | {live['runs']} |\n\n"
        f"\"Right now\" (`analytics.selectors.right_now()`: users online from the Redis sorted set, live calls and rings in "
        f"one COUNT over the live calls' partial index, among {seeded['calls']:,} calls): median {right_now['p50']:.3f} ms, "
        f"p95 {right_now['p95']:.3f} ms over 500 reads (wall time in-process, both round trips included). The calls query:\n\n"
        f"```\n{now_plan}\n```\n"
    )
    print(f"wrote {write_results_section(SECTION, body)}")


if __name__ == "__main__":
    main()
