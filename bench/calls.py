"""Calls benchmark: count the live calls among 1,000,000 ended ones, with and without the partial index.

    .venv/bin/python bench/calls.py [--ended 1000000] [--live 1000] [--runs 50] [--no-write]

Starts its own throwaway PostgreSQL on loopback, migrates, creates users with
bulk_create and the calls with INSERT ... SELECT generate_series, ANALYZEs,
then times the query the app runs (``calls.selectors.live_call_count``):

  (a) with the schema as migrated (the partial index ``calls_live_status_idx``
      and the live-only unique indexes);
  (b) in the same run, inside a transaction that drops every partial index
      on the live states (rolled back afterwards).

For each: EXPLAIN (ANALYZE, BUFFERS) of the query and the median wall time of
--runs executions through Django. Writes the figures to the "## calls"
section of bench/RESULTS.md. The original platform took 79 s; target < 1 ms.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres, Run, append_run, record_target  # noqa: E402  (bench/ is on sys.path when run as a script)
SECTION = "## calls"
LIVE_INDEXES = ["calls_live_status_idx", "calls_one_live_call_per_fan", "calls_one_live_call_per_creator"]


def seed(ended: int, live: int) -> None:
    from django.db import connection

    from accounts.models import User

    people = max(live, 1000)
    users = [User(username=f"fan{n}", email=f"fan{n}@bench.test", password="!") for n in range(people)]
    users += [User(username=f"creator{n}", email=f"creator{n}@bench.test", password="!", role="creator") for n in range(people)]
    User.objects.bulk_create(users, batch_size=2000)
    with connection.cursor() as c:
        c.execute("CREATE TEMP TABLE fans AS SELECT row_number() OVER (ORDER BY username) - 1 AS n, id FROM accounts_user WHERE role = 'fan'")
        c.execute("CREATE TEMP TABLE creators AS SELECT row_number() OVER (ORDER BY username) - 1 AS n, id FROM accounts_user WHERE role = 'creator'")
        columns = ("id, fan_id, creator_id, kind, rate, min_minutes, status, end_reason, requested_at, accepted_at, active_at, "
                   "ended_at, settled_at, minutes_charged, low_balance_warned_minute, active_seconds, tokens_charged, "
                   "tokens_refunded, creator_earnings, platform_fee")
        # Ended calls over the last year; a fan and a creator each in many.
        c.execute(f"""
            INSERT INTO calls_callsession ({columns})
            SELECT gen_random_uuid(), f.id, cr.id, CASE WHEN g %% 3 = 0 THEN 'voice' ELSE 'video' END, 10 + g %% 90, 1,
                   'ended', (ARRAY['completed','completed','completed','declined','missed','cancelled','dropped','insufficient_funds'])[1 + g %% 8],
                   t, t + interval '5 s', t + interval '10 s', t + interval '10 s' + (g %% 1800) * interval '1 s', t + interval '20 min',
                   1 + (g %% 1800) / 60, 0, g %% 1800, (1 + (g %% 1800) / 60) * (10 + g %% 90), 0, 0, 0
            FROM generate_series(1, %s) AS g
            JOIN fans f ON f.n = g %% {people}
            JOIN creators cr ON cr.n = (g * 7) %% {people}
            CROSS JOIN LATERAL (SELECT now() - (g %% 525600) * interval '1 min' AS t) AS times
        """, [ended])
        # Live calls: distinct fans and creators (the unique partial indexes demand it).
        c.execute(f"""
            INSERT INTO calls_callsession ({columns})
            SELECT gen_random_uuid(), f.id, cr.id, 'video', 60, 1,
                   (ARRAY['requested','accepted','active','paused'])[1 + g %% 4], '',
                   now(), NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0
            FROM generate_series(0, %s - 1) AS g JOIN fans f ON f.n = g JOIN creators cr ON cr.n = g
        """, [live])
        c.execute("VACUUM ANALYZE calls_callsession")


def measure(runs: int) -> tuple[str, float, int]:
    from django.db import connection

    from calls.models import LIVE_Q, CallSession

    queryset = CallSession.objects.filter(LIVE_Q)
    sql, params = queryset.query.sql_with_params()
    count_sql = f"SELECT count(*) FROM ({sql}) AS live"
    with connection.cursor() as c:
        c.execute(f"EXPLAIN (ANALYZE, BUFFERS) {count_sql}", params)
        plan = "\n".join(row[0] for row in c.fetchall())
    count = queryset.count()
    timings, raw = [], []
    for _ in range(runs):
        start = time.perf_counter()
        queryset.count()
        timings.append((time.perf_counter() - start) * 1000)
    with connection.cursor() as c:
        for _ in range(runs):
            start = time.perf_counter()
            c.execute(count_sql, params)
            c.fetchone()
            raw.append((time.perf_counter() - start) * 1000)
    execution = next(float(line.split(":")[1].split()[0]) for line in plan.splitlines() if line.startswith("Execution Time"))
    return plan, {"django": statistics.median(timings), "sql": statistics.median(raw), "server": execution}, count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ended", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    run = Run(" ".join(["bench/calls.py", *sys.argv[1:]]))

    pg = Postgres(durable=False, max_connections=50, prefix="digis-bench-calls-").start()
    try:
        os.environ["DATABASE_URL"] = f"postgres://digis@127.0.0.1:{pg.port}/digis"
        os.environ["DB_POOL"] = "false"
        os.environ["DB_STATEMENT_TIMEOUT_MS"] = "600000"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digis.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, transaction

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seed(args.ended, args.live)
        seeded_s = time.perf_counter() - started
        print(f"seeded {args.ended} ended + {args.live} live calls in {seeded_s:.1f} s")

        with_plan, with_ms, with_count = measure(args.runs)
        with transaction.atomic():
            with connection.cursor() as c:
                for name in LIVE_INDEXES:
                    c.execute(f'DROP INDEX IF EXISTS "{name}"')
            without_plan, without_ms, without_count = measure(args.runs)
            transaction.set_rollback(True)
        assert with_count == without_count == args.live, (with_count, without_count)
        print(f"with the partial index:    {with_ms}\n{with_plan}\n")
        print(f"without the partial index: {without_ms}\n{without_plan}\n")
        run.finish()
        if not args.no_write:
            write_results(run, args, seeded_s, with_ms, with_plan, without_ms, without_plan)
        record_target("calls", f"live call count, {args.ended:,} ended + {args.live:,} live (ORM, median)",
                      f"{with_ms['django']:.3f} ms", "< 1 ms", with_ms["django"] < 1)
    finally:
        from django.db import connections

        connections.close_all()
        pg.stop()


def write_results(run, args, seeded_s, with_ms, with_plan, without_ms, without_plan):
    body = (
        run.heading("Run")
        + f"Throwaway PostgreSQL on loopback; {args.ended:,} ended + {args.live:,} live calls (seeded in {seeded_s:.0f} s), VACUUM ANALYZE, "
        f"then `calls.selectors.live_call_count()` (count of status in requested/accepted/active/paused) through Django, "
        f"median of {args.runs} runs. Both measured in the same run: the second inside a transaction that drops "
        f"the live partial indexes ({', '.join(LIVE_INDEXES)}) and rolls back. The original platform took 79 s; target < 1 ms.\n\n"
        f"| schema | server execution (EXPLAIN ANALYZE, ms) | wall, raw SQL (median ms) | wall, via the ORM (median ms) |\n|---|---|---|---|\n"
        f"| with partial index `calls_live_status_idx` | {with_ms['server']:.3f} | {with_ms['sql']:.3f} | {with_ms['django']:.3f} |\n"
        f"| without (sequential scan) | {without_ms['server']:.3f} | {without_ms['sql']:.3f} | {without_ms['django']:.3f} |\n\n"
        f"With the index:\n\n```\n{with_plan}\n```\n\nWithout:\n\n```\n{without_plan}\n```\n"
    )
    print(f"appended to {append_run(SECTION, body)}")


if __name__ == "__main__":
    main()
