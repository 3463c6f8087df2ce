"""Payouts benchmark: what a creator's earnings page and a payout request cost as their history grows.

    .venv/bin/python bench/payouts.py [--sizes 1000,10000,50000] [--runs 15] [--no-write]

Starts its own throwaway PostgreSQL on loopback, migrates, then grows one
creator's history through the real ledger (``charge_with_fee`` from 50 fans,
one spend of bought-then-earned tokens every 100 earnings, and a payout
requested and paid every tenth of the way). At each size it times, median of
--runs, in the same run:

- ``payouts.selectors.creator_position`` (the earnings page and the API's
  figures): the ledger reads, and the pure replay (``payouts.earnings``);
- ``payouts.services.request_payout`` of 400 tokens end to end (release, the
  position twice, the ledger hold under the wallet lock, the statement), each
  one rejected afterwards so the next run starts from the same state.

Writes the figures to the "## payouts" section of bench/RESULTS.md.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres, write_results_section  # noqa: E402  (bench/ is on sys.path when run as a script)

SECTION = "## payouts"


def median_ms(func, runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    pg = Postgres(durable=False, max_connections=50, prefix="digis-bench-payouts-").start()
    try:
        os.environ["DATABASE_URL"] = pg.url
        os.environ["DB_POOL"] = "false"
        os.environ["DB_STATEMENT_TIMEOUT_MS"] = "600000"
        os.environ["PAYOUT_HOLD_DAYS"] = "0"
        os.environ["PAYOUT_REVIEW_ABOVE_TOKENS"] = str(10**12)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digis.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        rows = run(sizes, args.runs)
        for row in rows:
            print(row)
        if not args.no_write:
            write(args, rows)
    finally:
        from django.db import connections

        connections.close_all()
        pg.stop()


def run(sizes: list[int], runs: int) -> list[dict]:
    from django.db import connection

    from accounts.models import User
    from ledger import services as ledger
    from ledger.models import TransactionKind
    from payouts import earnings, selectors, services
    from payouts.models import BankScheme, PayoutAccount, PayoutMethod, PayoutSchedule

    creator = User.objects.create(username="creator", email="c@bench.test", role="creator")
    other = User.objects.create(username="other", email="o@bench.test", role="creator")
    staff = User.objects.create(username="staff", email="s@bench.test", is_staff=True, is_superuser=True)
    fans = [User.objects.create(username=f"fan{n}", email=f"fan{n}@bench.test") for n in range(50)]
    for fan in fans:
        ledger.credit_purchase(user=fan, tokens=10**9, idempotency_key=f"bench-buy-{fan.pk}", reference="bench")
    # A few bought tokens: the first spends use them, later ones eat the oldest earnings.
    ledger.credit_purchase(user=creator, tokens=300, idempotency_key="bench-buy-creator", reference="bench")
    PayoutAccount.objects.create(
        user=creator, method=PayoutMethod.MANUAL, schedule=PayoutSchedule.ON_REQUEST, bank_scheme=BankScheme.IBAN,
        bank_country="DE", bank_holder="Bench", bank_masked="DE •••• 3000",
    )
    kinds = [TransactionKind.TIP, TransactionKind.CALL_CHARGE, TransactionKind.MESSAGE_CHARGE, TransactionKind.TICKET]
    made, rows, seeded_s = 0, [], 0.0
    for size in sizes:
        started = time.perf_counter()
        while made < size:
            made += 1
            fan = fans[made % len(fans)]
            ledger.charge_with_fee(payer=fan, creator=creator, amount=10 + made % 90, kind=kinds[made % 4], idempotency_key=f"bench-earn-{made}")
            if made % 100 == 0:
                ledger.release_earnings(user=creator)
                ledger.charge_with_fee(payer=creator, creator=other, amount=150, kind=TransactionKind.TIP, idempotency_key=f"bench-spend-{made}")
            if made % max(100, size // 10) == 0 and made < size:
                ledger.release_earnings(user=creator)
                payout = services.request_payout(user=creator)  # everything payable
                if payout.needs_review:
                    services.approve_payout(payout_id=payout.pk, actor=staff)
                services.mark_manual_paid(payout_id=payout.pk, actor=staff, reference=f"bench-{made}")
        ledger.release_earnings(user=creator)
        seeded_s += time.perf_counter() - started
        with connection.cursor() as c:
            c.execute("VACUUM ANALYZE")

        position = selectors.creator_position(user=creator)
        account_ids = list(creator.ledger_accounts.filter(kind__in=["wallet", "earnings"]).values_list("pk", flat=True))
        movements = selectors._movements(account_ids)
        entries = len(movements)
        total = median_ms(lambda: selectors.creator_position(user=creator), runs)
        replay_ms = median_ms(
            lambda: earnings.replay(movements, hold=selectors.hold(), in_payouts={}, paid_out=0), runs
        )

        def request_and_reject():
            payout = services.request_payout(user=creator, tokens=400)
            services.reject_payout(payout_id=payout.pk, actor=staff, reason="bench: undo")

        request_ms = median_ms(request_and_reject, max(3, runs // 3))
        rows.append({
            "earnings": size, "entries": entries, "payable": position.payable, "position_ms": total,
            "replay_ms": replay_ms, "request_and_reject_ms": request_ms,
        })
        print(f"{size} earnings, {entries} entries: position {total:.1f} ms (replay {replay_ms:.1f} ms), "
              f"request+reject {request_ms:.1f} ms (seeded so far in {seeded_s:.0f} s)")
    return rows


def write(args, rows):
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = "\n".join(
        f"| {r['earnings']:,} | {r['entries']:,} | {r['position_ms']:.1f} | {r['replay_ms']:.1f} | {r['request_and_reject_ms']:.1f} |"
        for r in rows
    )
    body = (
        f"{SECTION}\n\n"
        f"`bench/payouts.py --sizes {args.sizes} --runs {args.runs}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit {commit}. Throwaway PostgreSQL on loopback (fsync off); one creator's history grown through the real ledger "
        f"(50 fans' charges, a spend every 100 earnings, a payout of everything payable paid every tenth of each size); medians of {args.runs} runs "
        f"({max(3, args.runs // 3)} for the request), all sizes in the same run. {os.cpu_count()} CPUs shared with other "
        f"engineers' test runs (load average {os.getloadavg()[0]:.1f} at the end).\n\n"
        "`creator_position` is what the earnings page and `GET /api/payouts/earnings/` compute on every view: it reads the "
        "creator's wallet and pending-earnings entries (one query), the statements of their payouts, the fees and payers of "
        "their earnings, and replays them in Python. The request is `request_payout` end to end, then a rejection to undo it.\n\n"
        "| earnings | wallet + earnings entries | creator_position (ms) | of which the Python replay (ms) | request + reject (ms) |\n"
        "|---|---|---|---|---|\n"
        f"{lines}\n"
    )
    print(f"wrote {write_results_section(SECTION, body)}")


if __name__ == "__main__":
    main()
