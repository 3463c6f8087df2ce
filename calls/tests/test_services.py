"""Calls through the services, with time under control (no sockets: see test_socket_calls.py)."""

from datetime import timedelta

import pytest

from calls import services
from calls.models import CallSession, CallStatus
from calls.selectors import busy_user_ids
from calls.tests.conftest import START, balance, fund, make_call_creator, online
from digis.errors import DomainError

pytestmark = pytest.mark.django_db


def at(traveller, seconds):
    traveller.move_to(START + timedelta(seconds=seconds))


def connected_call(alice, bob, traveller):
    call = services.request_call(fan=alice, creator="bob", kind="video")
    services.accept_call(call_id=call.pk, user=bob)
    services.join_call(call_id=call.pk, user=alice)
    services.join_call(call_id=call.pk, user=bob)
    return CallSession.objects.get(pk=call.pk)


def talk(call, alice, bob, traveller, *, until, start=0, step=10):
    t = start
    while t + step <= until:
        t += step
        at(traveller, t)
        services.heartbeat_call(call_id=call.pk, user=alice)
        services.heartbeat_call(call_id=call.pk, user=bob)
    at(traveller, until)


def test_ring_refusals_have_codes(ready, traveller, mallory):
    alice, bob = ready
    with pytest.raises(DomainError) as err:
        services.request_call(fan=mallory, creator="bob", kind="video")
    assert (err.value.code, err.value.status_code, err.value.extra["shortfall"]) == ("insufficient_funds", 402, 10)
    assert err.value.extra["buy_url"]
    with pytest.raises(DomainError) as err:
        services.request_call(fan=alice, creator="nobody", kind="video")
    assert err.value.code == "creator_not_found"
    with pytest.raises(DomainError) as err:
        services.request_call(fan=alice, creator="bob", kind="smoke-signal")
    assert err.value.code == "invalid_call_kind"
    assert CallSession.objects.count() == 0


def test_offline_busy_and_dnd_creators_refuse_with_409(ready, traveller):
    from accounts.tests.factories import make_creator
    from digis.realtime import presence

    alice, bob = ready
    carol = make_creator("carol")
    make_call_creator(carol)
    with pytest.raises(DomainError) as err:
        services.request_call(fan=alice, creator="carol", kind="voice")
    assert (err.value.code, err.value.status_code) == ("creator_offline", 409)
    services.request_call(fan=alice, creator="bob", kind="video")
    assert busy_user_ids([alice.pk, bob.pk, carol.pk]) == {str(alice.pk), str(bob.pk)}
    online(carol)
    with pytest.raises(DomainError) as err:
        services.request_call(fan=alice, creator="carol", kind="voice")
    assert err.value.code == "already_in_call"
    dave = __import__("accounts.tests.factories", fromlist=["make_user"]).make_user("dave")
    fund(dave, 100)
    with pytest.raises(DomainError) as err:
        services.request_call(fan=dave, creator="bob", kind="voice")
    assert err.value.code == "creator_busy"
    presence.mark_disconnected(bob.pk)


def test_blocked_fan_gets_403(ready, traveller):
    from accounts.models import Block

    alice, bob = ready
    Block.objects.create(blocker=bob, blocked=alice)
    with pytest.raises(DomainError) as err:
        services.request_call(fan=alice, creator=str(bob.pk), kind="video")
    assert (err.value.code, err.value.status_code) == ("blocked", 403)


def test_unanswered_ring_is_missed_after_30s(ready, traveller):
    alice, bob = ready
    call = services.request_call(fan=alice, creator="bob", kind="video")
    at(traveller, 29)
    assert services.advance_call(call_id=call.pk).status == CallStatus.REQUESTED
    at(traveller, 31)
    call = services.advance_call(call_id=call.pk)
    assert (call.status, call.end_reason, call.ended_at) == ("ended", "missed", START + timedelta(seconds=30))
    with pytest.raises(DomainError) as err:
        services.accept_call(call_id=call.pk, user=bob)
    assert err.value.code == "call_not_ringing"
    assert balance(alice) == 1000


def test_only_the_right_party_answers(ready, traveller):
    alice, bob = ready
    call = services.request_call(fan=alice, creator="bob", kind="video")
    for action, user, code in [
        (services.accept_call, alice, "only_creator_can_accept"),
        (services.decline_call, alice, "only_creator_can_decline"),
        (services.cancel_call, bob, "only_fan_can_cancel"),
    ]:
        with pytest.raises(DomainError) as err:
            action(call_id=call.pk, user=user)
        assert (err.value.code, err.value.status_code) == (code, 403)
    services.cancel_call(call_id=call.pk, user=alice)
    assert CallSession.objects.get(pk=call.pk).end_reason == "cancelled"


@pytest.mark.parametrize("seconds, paid", [(60, 10), (150, 25), (600, 100)])
def test_exact_charges(ready, traveller, seconds, paid):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    assert (call.status, call.minutes_charged, balance(alice)) == ("active", 1, 990)
    talk(call, alice, bob, traveller, until=seconds)
    call = services.end_call(call_id=call.pk, user=alice)
    assert (call.active_seconds, call.tokens_charged - call.tokens_refunded) == (seconds, paid)
    assert call.creator_earnings + call.platform_fee == paid
    assert balance(alice) == 1000 - paid
    # Hanging up again changes nothing.
    again = services.end_call(call_id=call.pk, user=bob)
    assert (again.tokens_charged, again.tokens_refunded, balance(alice)) == (call.tokens_charged, call.tokens_refunded, 1000 - paid)


def test_under_ten_seconds_is_refunded_in_full(ready, traveller):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    at(traveller, 9)
    call = services.end_call(call_id=call.pk, user=bob)
    assert (call.tokens_charged, call.tokens_refunded, call.creator_earnings, call.platform_fee) == (10, 10, 0, 0)
    assert balance(alice) == 1000


def test_late_sweeper_charges_what_a_punctual_one_would(ready, traveller):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    talk(call, alice, bob, traveller, until=90)
    # bob's browser dies at 90 s; nothing runs for ten minutes.
    at(traveller, 100)
    services.heartbeat_call(call_id=call.pk, user=alice)
    at(traveller, 700)
    call = services.advance_call(call_id=call.pk)
    assert (call.status, call.end_reason) == ("ended", "dropped")
    assert call.ended_at == START + timedelta(seconds=150)  # apart from 90 s, + the 60 s window
    assert (call.active_seconds, call.tokens_charged - call.tokens_refunded) == (90, 15)
    assert balance(alice) == 985
