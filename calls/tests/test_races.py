"""Races on PostgreSQL: real threads, the invariant asserted, not the timing."""

from datetime import timedelta

import pytest

from accounts.tests.factories import make_creator, make_user
from calls import services
from calls.models import CallSession
from calls.tests.conftest import START, balance, fund, make_call_creator, online
from digis.errors import DomainError
from digis.testing import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]


def _active_call(traveller):
    alice, bob = make_user("alice"), make_creator("bob")
    fund(alice, 1000)
    make_call_creator(bob)
    online(bob)
    call = services.request_call(fan=alice, creator="bob", kind="video")
    services.accept_call(call_id=call.pk, user=bob)
    services.join_call(call_id=call.pk, user=alice)
    services.join_call(call_id=call.pk, user=bob)
    for t in (10, 20, 30, 40):
        traveller.move_to(START + timedelta(seconds=t))
        services.heartbeat_call(call_id=call.pk, user=alice)
        services.heartbeat_call(call_id=call.pk, user=bob)
    traveller.move_to(START + timedelta(seconds=45))
    return alice, bob, call


def test_both_hanging_up_at_once_settle_once(traveller):
    alice, bob, call = _active_call(traveller)
    results = run_concurrently([
        lambda: services.end_call(call_id=call.pk, user=alice),
        lambda: services.end_call(call_id=call.pk, user=bob),
        lambda: services.advance_call(call_id=call.pk),
    ])
    assert not [r for r in results if isinstance(r, BaseException)], results
    call = CallSession.objects.get(pk=call.pk)
    assert (call.status, call.active_seconds, call.tokens_charged, call.tokens_refunded) == ("ended", 45, 10, 2)
    assert balance(alice) == 992  # ceil(45 x 10 / 60) = 8


def test_two_rings_at_once_one_wins(traveller):
    alice = make_user("alice")
    fund(alice, 1000)
    bob, carol = make_creator("bob"), make_creator("carol")
    for creator in (bob, carol):
        make_call_creator(creator)
        online(creator)
    dave, erin = make_user("dave"), make_user("erin")
    fund(dave, 1000)
    fund(erin, 1000)

    # One fan ringing two creators at once.
    results = run_concurrently([
        lambda: services.request_call(fan=alice, creator="bob", kind="video"),
        lambda: services.request_call(fan=alice, creator="carol", kind="video"),
    ] * 2)
    won = [r for r in results if isinstance(r, CallSession)]
    lost = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 1 and len(lost) == 3, results
    assert {e.code for e in lost} <= {"already_in_call", "creator_busy"}
    assert CallSession.objects.filter(fan=alice).count() == 1

    # Two fans ringing one (free) creator at once.
    free = carol if won[0].creator_id == bob.pk else bob
    results = run_concurrently([
        lambda: services.request_call(fan=dave, creator=free.username, kind="voice"),
        lambda: services.request_call(fan=erin, creator=free.username, kind="voice"),
    ])
    assert sum(isinstance(r, CallSession) for r in results) == 1, results
    assert CallSession.objects.filter(creator=free).count() == 1


def test_database_refuses_a_second_live_call_even_bypassing_services(traveller):
    from django.db import IntegrityError, transaction

    alice, bob = make_user("alice"), make_creator("bob")
    CallSession.objects.create(fan=alice, creator=bob, kind="video", rate=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        CallSession.objects.create(fan=alice, creator=make_creator("carol"), kind="video", rate=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        CallSession.objects.filter(fan=alice).update(tokens_refunded=5)


def test_settlement_retried_after_a_crash_gives_the_same_totals(traveller, monkeypatch):
    alice, bob, call = _active_call(traveller)
    traveller.move_to(START + timedelta(seconds=150))
    for t in (50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150):
        traveller.move_to(START + timedelta(seconds=t))
        services.heartbeat_call(call_id=call.pk, user=alice)
        services.heartbeat_call(call_id=call.pk, user=bob)
    from ledger import services as ledger_services

    real_refund = ledger_services.refund_charge

    def crash_after_refund(**kwargs):
        real_refund(**kwargs)
        raise ConnectionError("worker killed between the refund and the receipt")

    monkeypatch.setattr(ledger_services, "refund_charge", crash_after_refund)
    with pytest.raises(ConnectionError):
        services.end_call(call_id=call.pk, user=alice)
    assert CallSession.objects.get(pk=call.pk).status == "active"  # nothing half-written
    monkeypatch.setattr(ledger_services, "refund_charge", real_refund)

    call = services.end_call(call_id=call.pk, user=alice)
    again = services.advance_call(call_id=call.pk)
    assert (call.active_seconds, call.tokens_charged, call.tokens_refunded) == (150, 30, 5)
    assert (again.tokens_charged, again.tokens_refunded, again.settled_at) == (30, 5, call.settled_at)
    assert balance(alice) == 975
