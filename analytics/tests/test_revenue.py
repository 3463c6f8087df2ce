"""Revenue on the dashboard: hand-computed figures, and equal to the ledger's
own sums for the same period whether the job has run or not."""

import datetime as dt

import pytest
from django.db.models import Q, Sum

from accounts.tests.factories import make_creator
from analytics import rollups, selectors
from analytics.selectors import Period
from analytics.tests.conftest import at, key, purchase
from ledger import services as ledger
from ledger.models import AccountKind, Entry, SystemAccount, TransactionKind

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 1, 10)


def seed_day(people, clock):
    """One day of money on 2026-01-10 (UTC), every kind of flow the dashboard shows."""
    alice, bob, carol = people
    clock.set(at(2026, 1, 10, 9))
    purchase(alice, cents=999, tokens=1000, at_time=at(2026, 1, 10, 9))
    clock.set(at(2026, 1, 10, 10))
    tip = ledger.charge_with_fee(payer=alice, creator=bob, amount=100, kind=TransactionKind.TIP, idempotency_key=key())
    ledger.charge_with_fee(payer=alice, creator=carol, amount=50, kind=TransactionKind.MESSAGE_CHARGE, idempotency_key=key())
    call = ledger.charge_with_fee(payer=alice, creator=bob, amount=60, kind=TransactionKind.CALL_CHARGE, idempotency_key=key())
    clock.set(at(2026, 1, 10, 11))
    ledger.refund_charge(original=tip, amount=30, idempotency_key=key(), reason="partly refunded tip")
    ledger.refund_charge(original=call, amount=20, idempotency_key=key(), reason="unused call time")
    clock.set(at(2026, 1, 10, 12))
    ledger.claw_back(user=alice, tokens=200, idempotency_key=key(), reference="card refund", kind="refund")
    chargeback = ledger.claw_back(user=alice, tokens=100, idempotency_key=key(), reference="dispute", kind="chargeback")
    clock.set(at(2026, 1, 10, 13))
    ledger.restore_clawback(original=chargeback, idempotency_key=key(), reference="dispute won")
    ledger.release_earnings(user=bob)  # moves earnings to the wallet: not revenue, must not count
    clock.set(at(2026, 1, 12, 12))


def test_revenue_figures_match_the_hand_computed_day(people, clock, python_ledger):
    # Given a day of purchases, spending, refunds, a card refund and a dispute won
    seed_day(people, clock)

    # When the console reads that day (the job has not run: everything live)
    totals = selectors.revenue(Period(DAY, DAY))["totals"]

    # Then every figure is what we worked out by hand (20 % fee, floored)
    assert totals["card_purchases"] == {"usd": {"cents": 999, "count": 1, "tokens": 1000}}
    assert totals["tokens_purchased"] == 1000
    assert totals["spend_by_kind"] == {"call_charge": 60, "message_charge": 50, "message_hold": 0, "tip": 100, "ticket": 0}
    assert totals["tokens_spent"] == 210
    # refund kind: 30 of the tip; call_refund: 20 of the call
    assert totals["fan_refunds_by_kind"]["refund"] == 30 and totals["fan_refunds_by_kind"]["call_refund"] == 20
    assert totals["tokens_refunded_to_fans"] == 50
    assert totals["net_spend"] == 160
    # fees: 20 + 10 + 12 charged; 6 (tip) and 4 (call) given back with the refunds
    assert totals["fees_by_kind"] == {"call_charge": 12, "call_refund": -4, "message_charge": 10, "refund": -6, "tip": 20}
    assert totals["platform_fees"] == 32
    # creators: 80 + 40 + 48 - 24 - 16
    assert totals["creator_earnings"] == 128
    assert totals["card_refunds"] == 200
    assert totals["chargebacks"] == 100
    assert totals["disputes_won"] == 100


def ledger_sums(start, end) -> dict:
    """The same figures straight from ledger entries (an independent definition)."""
    entries = Entry.objects.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)

    def total(*filters, negate=False):
        value = entries.filter(*filters).aggregate(t=Sum("amount"))["t"] or 0
        return -value if negate else value

    wallet = Q(account__kind=AccountKind.WALLET)
    spend_kinds = ["call_charge", "message_charge", "message_hold", "tip", "ticket"]
    refund_kinds = ["call_refund", "refund", "message_refund", "ticket_refund"]
    return {
        "tokens_spent": total(wallet, Q(amount__lt=0), Q(transaction__kind__in=spend_kinds), negate=True),
        "tokens_refunded_to_fans": total(wallet, Q(amount__gt=0), Q(transaction__kind__in=refund_kinds)),
        "platform_fees": total(Q(account__system_code=SystemAccount.PLATFORM_FEE)),
        "creator_earnings": total(Q(account__kind=AccountKind.EARNINGS), ~Q(transaction__kind=TransactionKind.EARNINGS_RELEASE)),
        "tokens_purchased": total(Q(account__system_code=SystemAccount.STRIPE_CLEARING), Q(transaction__kind="purchase"), negate=True),
        "card_refunds": total(Q(account__system_code=SystemAccount.REFUNDS), Q(transaction__kind="refund")),
        "chargebacks": total(Q(account__system_code=SystemAccount.REFUNDS), Q(transaction__kind="chargeback")),
        "disputes_won": total(Q(account__system_code=SystemAccount.REFUNDS), Q(transaction__kind="clawback_restore"), negate=True),
    }


FIGURES = ["tokens_spent", "tokens_refunded_to_fans", "platform_fees", "creator_earnings", "tokens_purchased",
           "card_refunds", "chargebacks", "disputes_won"]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_revenue_equals_the_ledger_before_during_and_after_the_rollups(people, clock, python_ledger, settings, zone):
    # Given money moving over three days, some of it near midnight in each zone
    settings.ANALYTICS_TIME_ZONE = zone
    seed_day(people, clock)
    alice, bob, _ = people
    for moment in (at(2026, 1, 9, 23, 59), at(2026, 1, 10, 0, 1), at(2026, 1, 10, 14, 59), at(2026, 1, 10, 15, 1),
                   at(2026, 1, 11, 4, 59), at(2026, 1, 11, 5, 1)):
        clock.set(moment)
        ledger.charge_with_fee(payer=alice, creator=bob, amount=7, kind=TransactionKind.TIP, idempotency_key=key())
    clock.set(at(2026, 1, 12, 12))
    period = Period(dt.date(2026, 1, 10), dt.date(2026, 1, 11))
    start, end = period.bounds(at(2026, 1, 12, 12))
    expected = ledger_sums(start, end)
    assert expected["tokens_spent"] > 0

    def shown():
        totals = selectors.revenue(period)["totals"]
        return {name: totals[name] for name in FIGURES}

    # Then the dashboard equals the ledger with nothing rolled up (all live) ...
    assert shown() == expected
    # ... with the hours filled but no day derived ...
    for name in ("ledger", "purchases", "calls"):
        rollups.fill_source(name, now=at(2026, 1, 11, 3))
    assert shown() == expected
    # ... and with everything filled and the days derived
    rollups.fill_all(now=at(2026, 1, 12, 12))
    assert rollups.days_filled_until() is not None
    assert shown() == expected
    # and the per-day series adds up to the totals
    series = selectors.revenue(period, grain="day")["series"]
    assert sum(point["tokens_spent"] for point in series) == expected["tokens_spent"]


def test_revenue_equals_the_ledger_on_the_database_path(people):
    """The ledger's PostgreSQL function stamps rows with the server's clock: compare for 'today'."""
    alice, bob, carol = people
    ledger.credit_purchase(user=alice, tokens=500, idempotency_key=key(), reference="db-path")
    tip = ledger.charge_with_fee(payer=alice, creator=bob, amount=90, kind=TransactionKind.TIP, idempotency_key=key())
    ledger.refund_charge(original=tip, amount=9, idempotency_key=key(), reason="refund")
    ledger.charge_with_fee(payer=alice, creator=carol, amount=33, kind=TransactionKind.CALL_CHARGE, idempotency_key=key())
    period = selectors.parse_period({"period": "today"})
    from django.utils import timezone

    start, end = period.bounds(timezone.now() + dt.timedelta(seconds=1))
    expected = ledger_sums(start, end)
    totals = selectors.revenue(period)["totals"]
    assert {name: totals[name] for name in FIGURES} == expected
    # fees: 18 on the tip, 2 of them back with 9 refunded (18 - floor(18 * 81 / 90)), 6 on the call
    assert totals["tokens_spent"] == 123 and totals["platform_fees"] == 22


def test_top_creators_by_net_earnings(people, clock, python_ledger):
    alice, bob, carol = people
    seed_day(people, clock)
    rows = selectors.top_creators(Period(DAY, DAY))
    # bob: 80 (tip) + 48 (call) - 24 - 16 = 88; carol: 40 (message)
    assert [(row["username"], row["net_earnings"]) for row in rows] == [("bob", 88), ("carol", 40)]
    assert rows[0]["by_kind"] == {"call_charge": 48, "call_refund": -16, "refund": -24, "tip": 80}
    # the same once rolled up
    rollups.fill_all(now=at(2026, 1, 12, 12))
    assert [(row["username"], row["net_earnings"]) for row in selectors.top_creators(Period(DAY, DAY))] == [("bob", 88), ("carol", 40)]


def test_the_database_ranks_creators_exactly_with_live_refunds_and_newcomers(people, clock, python_ledger):
    """top_creator_totals() takes only the head of the rollup's ranking from
    the database: a refund after the job ran can drop a head creator below one
    outside it, and a newcomer can enter with live rows only. It must rank as
    every creator's totals would."""
    alice = people[0]
    creators = [make_creator(f"c{n}") for n in range(1, 6)]
    clock.set(at(2026, 1, 10, 9))
    purchase(alice, cents=9999, tokens=1000, at_time=at(2026, 1, 10, 9))
    tips = {
        creator.username: ledger.charge_with_fee(payer=alice, creator=creator, amount=amount, kind=TransactionKind.TIP, idempotency_key=key())
        for creator, amount in zip(creators, (100, 90, 80, 70))
    }  # nets after the 20 % fee: c1 80, c2 72, c3 64, c4 56
    rollups.fill_all(now=at(2026, 1, 10, 14))
    clock.set(at(2026, 1, 10, 15))  # after the job: live rows only
    ledger.refund_charge(original=tips["c1"], amount=100, idempotency_key=key(), reason="all back")  # c1: 0
    ledger.refund_charge(original=tips["c2"], amount=50, idempotency_key=key(), reason="half back")  # c2: 32
    ledger.charge_with_fee(payer=alice, creator=creators[4], amount=10, kind=TransactionKind.TIP, idempotency_key=key())  # c5: 8
    clock.set(at(2026, 1, 10, 16))

    period = Period(DAY, DAY)
    assert selectors._fill().creators  # the rollup's head is in play
    every = selectors.creator_totals("earnings_total", period, by_subgroup=False)
    ranking = sorted(every.items(), key=lambda item: (-item[1], item[0]))
    names = {str(creator.pk): creator.username for creator in creators}
    assert [(names[creator_id], total) for creator_id, total in ranking] == [("c3", 64), ("c4", 56), ("c2", 32), ("c5", 8)]
    for limit in range(1, 6):
        assert selectors.top_creator_totals("earnings_total", period, limit=limit) == ranking[:limit]


def test_the_settled_head_ranks_exactly_when_recent_days_and_live_minutes_move_creators(people, clock, python_ledger, monkeypatch):
    """Days the job will not rewrite are ranked once (the head, kept); the last
    day's rows and the live minutes are added on top. A creator outside the
    head can overtake it (a big tip today), one inside can fall (a refund), a
    newcomer can enter: every limit must rank as every creator's totals do,
    whether the head held, was not enough (ranked from scratch) or was
    everyone."""
    from django.core.cache import cache

    monkeypatch.setattr(selectors, "HEAD_SPARE", 1)
    alice = people[0]
    creators = {name: make_creator(name) for name in ("c1", "c2", "c3", "c4", "c5", "c6", "c7")}
    clock.set(at(2026, 1, 5, 9))
    purchase(alice, cents=9999, tokens=2000, at_time=at(2026, 1, 5, 9))
    tips = {name: ledger.charge_with_fee(payer=alice, creator=creators[name], amount=amount, kind=TransactionKind.TIP, idempotency_key=key())
            for name, amount in zip(("c1", "c2", "c3", "c4", "c5", "c6"), (100, 90, 80, 70, 60, 50))}
    # settled (Jan 5): c1 80, c2 72, c3 64, c4 56, c5 48, c6 40
    clock.set(at(2026, 1, 10, 10))  # today, before the job's run: rollup rows of the recent day
    ledger.charge_with_fee(payer=alice, creator=creators["c6"], amount=100, kind=TransactionKind.TIP, idempotency_key=key())  # c6: 120
    rollups.fill_all(now=at(2026, 1, 10, 14))
    clock.set(at(2026, 1, 10, 15))  # after it: live minutes
    ledger.refund_charge(original=tips["c2"], amount=50, idempotency_key=key(), reason="half back")  # c2: 32
    ledger.charge_with_fee(payer=alice, creator=creators["c5"], amount=10, kind=TransactionKind.TIP, idempotency_key=key())  # c5: 56
    ledger.charge_with_fee(payer=alice, creator=creators["c7"], amount=200, kind=TransactionKind.TIP, idempotency_key=key())  # c7: 160, live only
    clock.set(at(2026, 1, 10, 16))

    period = Period(dt.date(2026, 1, 5), dt.date(2026, 1, 10))
    filled = selectors._fill().creators["ledger"]
    assert selectors.settled_until(filled) == dt.date(2026, 1, 10)  # Jan 5-9 settled, Jan 10 recent
    every = selectors.creator_totals("earnings_total", period, by_subgroup=False)
    ranking = sorted(every.items(), key=lambda item: (-item[1], item[0]))
    names = {str(creator.pk): name for name, creator in creators.items()}
    assert [(names[c], t) for c, t in ranking][:4] == [("c7", 160), ("c6", 120), ("c1", 80), ("c3", 64)]
    fallbacks = []
    real = selectors.creator_totals  # what ranking from scratch calls
    monkeypatch.setattr(selectors, "creator_totals", lambda *a, **k: fallbacks.append(a) or real(*a, **k))
    for limit in range(1, 9):
        cache.clear()
        assert selectors.top_creator_totals("earnings_total", period, limit=limit) == ranking[:limit], limit
        assert selectors.top_creator_totals("earnings_total", period, limit=limit) == ranking[:limit], limit  # the kept head
    assert fallbacks and len(fallbacks) < 16  # some limits held on the head, some ranked from scratch
