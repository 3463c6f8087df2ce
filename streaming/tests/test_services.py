"""Going live, ending, tips, tickets, the goal and the summary, through the services and the real ledger."""

from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.tests.factories import make_user
from ledger import checks
from ledger.exceptions import IdempotencyConflict
from ledger.models import Transaction, TransactionKind
from streaming import selectors, services
from streaming.exceptions import (
    AlreadyLive,
    CannotAffordTicket,
    CannotAffordTip,
    CannotTipSelf,
    FollowersOnly,
    InvalidStream,
    InvalidTip,
    NotACreator,
    NotHost,
    StreamBlocked,
    StreamNotLive,
    TicketRequired,
)
from streaming.models import EndReason, LiveStream, StreamStatus, Ticket, Tip
from streaming.tests.conftest import START, balance, follow, fund, live

pytestmark = pytest.mark.django_db


def ledger_is_consistent():
    return all(not problems for problems in checks.run_all().values())


# --- going live -----------------------------------------------------------------------


def test_going_live_shows_on_explore_at_once_and_ending_hides_it(host, alice):
    from creators.selectors import ExploreQuery, explore, live_user_ids, section

    assert explore(ExploreQuery(), viewer=alice).creators[0]["is_live"] is False  # cached while offline
    stream = live(host, title="Cooking live", category="")
    assert live_user_ids() == {str(host.pk)}
    assert explore(ExploreQuery(), viewer=alice).creators[0]["is_live"] is True
    assert [card["id"] for card in section("live", viewer=alice)] == [str(host.pk)]

    services.end_stream(stream_id=stream.pk, actor=host)
    assert live_user_ids() == set()
    assert explore(ExploreQuery(), viewer=alice).creators[0]["is_live"] is False


def test_anonymous_explore_follows_live_state(host, client):
    first = client.get("/api/creators/").json()["results"][0]["is_live"]
    stream = live(host)
    during = client.get("/api/creators/").json()["results"][0]["is_live"]
    services.end_stream(stream_id=stream.pk, actor=host)
    after = client.get("/api/creators/").json()["results"][0]["is_live"]
    assert (first, during, after) == (False, True, False)


def test_one_live_stream_per_host(host):
    stream = live(host)
    with pytest.raises(AlreadyLive) as refused:
        live(host, title="Again")
    assert refused.value.extra["stream_id"] == str(stream.pk)
    assert LiveStream.objects.filter(host=host, status=StreamStatus.LIVE).count() == 1


def test_only_creators_with_a_profile_go_live(alice, bob):
    with pytest.raises(NotACreator):
        live(alice)
    with pytest.raises(NotACreator):  # bob is a creator but has no profile yet
        live(bob)


@pytest.mark.parametrize("options, field", [
    ({"title": "  "}, "title"),
    ({"title": "x" * 121}, "title"),
    ({"audience": "friends"}, "audience"),
    ({"audience": "ticket"}, "ticket_price"),
    ({"audience": "ticket", "ticket_price": 0}, "ticket_price"),
    ({"audience": "everyone", "ticket_price": 5}, "ticket_price"),
])
def test_bad_settings_are_refused_with_nothing_written(host, options, field):
    with pytest.raises(Exception) as refused:
        live(host, **options)
    assert field in refused.value.fields
    assert not LiveStream.objects.exists()


def test_unknown_category_is_refused(host):
    from creators.exceptions import UnknownCategory

    with pytest.raises(UnknownCategory):
        live(host, category="no-such-thing")


def test_only_the_host_or_a_platform_moderator_ends(host, alice, mallory):
    from accounts.models import AuditEntry

    stream = live(host)
    with pytest.raises(NotHost):
        services.end_stream(stream_id=stream.pk, actor=mallory)
    services.add_moderator(host=host, user=alice)  # a chat moderator cannot end it either
    with pytest.raises(NotHost):
        services.end_stream(stream_id=stream.pk, actor=alice)
    staff = make_user("staffer", role="moderator")
    ended = services.end_stream(stream_id=stream.pk, actor=staff, reason="Broke the rules")
    assert (ended.status, ended.end_reason) == (StreamStatus.ENDED, EndReason.MODERATED)
    assert AuditEntry.objects.filter(action="live.end", actor=staff, target_id=str(stream.pk)).exists()
    # ending again is a no-op
    assert services.end_stream(stream_id=stream.pk, actor=host).end_reason == EndReason.MODERATED


# --- tips ---------------------------------------------------------------------------------


def test_a_retried_tip_charges_once(host, funded_alice):
    stream = live(host)
    tip, created = services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=50, message="Great show", client_key="k1")
    again, created_again = services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=50, message="Great show", client_key="k1")
    assert (created, created_again, again.pk) == (True, False, tip.pk)
    assert balance(funded_alice) == 950
    assert Transaction.objects.filter(kind=TransactionKind.TIP).count() == 1
    with pytest.raises(IdempotencyConflict):
        services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=60, client_key="k1")
    assert ledger_is_consistent()


def test_a_retry_after_the_stream_ended_returns_the_first_tip(host, funded_alice):
    stream = live(host)
    tip, _ = services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=5, client_key="k1")
    services.end_stream(stream_id=stream.pk, actor=host)
    assert services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=5, client_key="k1") == (tip, False)
    with pytest.raises(StreamNotLive):
        services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=5, client_key="k2")


def test_tip_refusals(host, alice):
    stream = live(host)
    with pytest.raises(CannotTipSelf):
        services.send_tip(stream_id=stream.pk, tipper=host, amount=5, client_key="k")
    for amount in (0, -3, True, "5", 10**7):
        with pytest.raises(InvalidTip):
            services.send_tip(stream_id=stream.pk, tipper=alice, amount=amount, client_key="k")
    with pytest.raises(CannotAffordTip) as short:
        services.send_tip(stream_id=stream.pk, tipper=alice, amount=5, client_key="k")
    assert short.value.extra["shortfall"] == 5 and short.value.extra["buy_url"]
    assert not Tip.objects.exists() and balance(alice) == 0


def test_tip_notifies_the_host(host, funded_alice):
    from notifications.models import Notification

    stream = live(host)
    services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=7, message="hi", client_key="k1")
    services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=7, message="hi", client_key="k1")
    notes = Notification.objects.filter(recipient=host, kind="tip_received")
    assert notes.count() == 1 and "7 tokens" in notes.get().text


def test_goal_progress_is_read_from_the_ledger(host, funded_alice):
    from ledger.services import reverse_transaction

    stream = live(host)
    services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=30, client_key="before-goal")
    stream = services.set_goal(stream_id=stream.pk, actor=host, title="New camera", target=100)
    assert selectors.goal_progress(stream)["raised"] == 0  # counts from when it was set
    tip, _ = services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=40, client_key="a")
    services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=70, client_key="b")
    assert selectors.goal_progress(stream) == {"title": "New camera", "target": 100, "raised": 110, "percent": 100, "reached": True}
    # an admin reverses one tip: the progress follows the ledger, not a counter
    reverse_transaction(original=tip.transaction, idempotency_key="undo-tip", reason="chargeback", actor=None)
    assert selectors.goal_progress(stream)["raised"] == 70


def test_only_the_host_sets_the_goal(host, alice):
    stream = live(host)
    with pytest.raises(NotHost):
        services.set_goal(stream_id=stream.pk, actor=alice, title="x", target=10)
    with pytest.raises(InvalidStream):
        services.set_goal(stream_id=stream.pk, actor=host, title="x", target=-1)


# --- tickets ------------------------------------------------------------------------------


def test_a_ticket_is_charged_once_per_viewer_and_stream(host, funded_alice):
    stream = live(host, audience="ticket", ticket_price=25)
    with pytest.raises(TicketRequired):
        services.admit(stream, funded_alice)
    services.join_stream(stream_id=stream.pk, user=funded_alice)
    services.join_stream(stream_id=stream.pk, user=funded_alice)  # another tab, a reload, a retry
    assert balance(funded_alice) == 975
    assert Ticket.objects.filter(stream=stream, viewer=funded_alice).count() == 1
    assert services.admit(stream, funded_alice) == "viewer"
    # the host and the host's moderators watch for free
    moderator = make_user("mod")
    services.add_moderator(host=host, user=moderator)
    assert services.join_stream(stream_id=stream.pk, user=moderator)[2] == "moderator"
    assert balance(moderator) == 0
    assert ledger_is_consistent()


def test_a_short_wallet_buys_no_ticket(host, alice):
    fund(alice, 10)
    stream = live(host, audience="ticket", ticket_price=25)
    with pytest.raises(CannotAffordTicket) as short:
        services.join_stream(stream_id=stream.pk, user=alice)
    assert short.value.extra["shortfall"] == 15
    assert not Ticket.objects.exists() and balance(alice) == 10


@override_settings(LIVE_TICKET_REFUND_MINUTES=5)
def test_an_early_end_refunds_every_ticket(host, traveller):
    fans = [make_user(f"fan{n}") for n in range(3)]
    for fan in fans:
        fund(fan, 100)
    stream = live(host, audience="ticket", ticket_price=40)
    for fan in fans:
        services.join_stream(stream_id=stream.pk, user=fan)
    traveller.move_to(START + timedelta(minutes=4, seconds=59))
    services.end_stream(stream_id=stream.pk, actor=host)
    # The refund task is queued after commit; the sweeper also finishes any refunds due.
    from streaming.tasks import sweep_streams

    sweep_streams()
    assert [balance(fan) for fan in fans] == [100, 100, 100]
    assert Ticket.objects.filter(refunded_at__isnull=True).count() == 0
    stream.refresh_from_db()
    assert stream.tickets_refunded_at is not None and stream.summary["tickets"]["refund_due"] is True
    assert services.refund_tickets(stream_id=stream.pk) == 0  # again: nothing more
    assert Transaction.objects.filter(kind=TransactionKind.TICKET_REFUND).count() == 3
    assert ledger_is_consistent()


@override_settings(LIVE_TICKET_REFUND_MINUTES=5)
def test_a_stream_that_ran_its_time_keeps_its_tickets(host, funded_alice, traveller):
    stream = live(host, audience="ticket", ticket_price=40)
    services.join_stream(stream_id=stream.pk, user=funded_alice)
    traveller.move_to(START + timedelta(minutes=5))
    services.end_stream(stream_id=stream.pk, actor=host)
    assert balance(funded_alice) == 960
    assert not Transaction.objects.filter(kind=TransactionKind.TICKET_REFUND).exists()


def test_a_ticket_refund_happens_at_most_once_whatever_the_key(host, funded_alice):
    from ledger.exceptions import AlreadyReversed
    from ledger.services import refund_ticket

    stream = live(host, audience="ticket", ticket_price=40)
    services.join_stream(stream_id=stream.pk, user=funded_alice)
    ticket = Ticket.objects.get()
    first = refund_ticket(original=ticket.transaction, idempotency_key="r1", reason="test")
    assert refund_ticket(original=ticket.transaction, idempotency_key="r1", reason="test").pk == first.pk
    with pytest.raises(AlreadyReversed):
        refund_ticket(original=ticket.transaction, idempotency_key="r2", reason="test")
    assert balance(funded_alice) == 1000
    assert ledger_is_consistent()


# --- who may watch ------------------------------------------------------------------------


def test_followers_only_streams(host, alice):
    stream = live(host, audience="followers")
    with pytest.raises(FollowersOnly):
        services.join_stream(stream_id=stream.pk, user=alice)
    follow(alice, host)
    assert services.join_stream(stream_id=stream.pk, user=alice)[2] == "viewer"


@pytest.mark.parametrize("who_blocks", ["host", "viewer"])
def test_a_block_either_way_keeps_the_viewer_out(host, alice, who_blocks):
    from accounts.services import block_user

    stream = live(host)
    if who_blocks == "host":
        block_user(blocker=host, blocked=alice)
    else:
        block_user(blocker=alice, blocked=host)
    with pytest.raises(StreamBlocked):
        services.join_stream(stream_id=stream.pk, user=alice)
    with pytest.raises(StreamBlocked):
        services.send_chat(stream_id=stream.pk, user=alice, text="hello", client_key="m1")


# --- auto end and the summary ----------------------------------------------------------------


@override_settings(LIVE_HOST_GONE_S=60)
def test_the_stream_ends_by_itself_sixty_seconds_after_the_host_left(host, traveller):
    stream = live(host)
    traveller.move_to(START + timedelta(seconds=30))
    services.host_seen(stream_id=stream.pk, user=host)  # the host's last heartbeat
    traveller.move_to(START + timedelta(seconds=89))
    assert services.end_abandoned_streams() == []
    traveller.move_to(START + timedelta(seconds=135))  # the sweeper is late: the end time is not
    assert services.end_abandoned_streams() == [str(stream.pk)]
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason, stream.ended_at) == (StreamStatus.ENDED, EndReason.HOST_GONE, START + timedelta(seconds=90))
    assert stream.summary["duration_s"] == 90
    assert services.end_abandoned_streams() == []


def test_summary_counts_what_happened(host, traveller):
    from digis.realtime import rooms

    fans = [make_user(f"fan{n}") for n in range(4)]
    for fan in fans:
        fund(fan, 500)
    traveller.move_to(START - timedelta(days=1))
    follow(fans[3], host)  # before the stream: not a new follower
    traveller.move_to(START)
    stream = live(host, audience="ticket", ticket_price=10)
    for fan in fans[:3]:
        services.join_stream(stream_id=stream.pk, user=fan)
        rooms.presence_join(stream.room, fan.pk, ttl=45)
    traveller.move_to(START + timedelta(minutes=20))
    follow(fans[0], host)
    follow(fans[1], host)
    services.send_tip(stream_id=stream.pk, tipper=fans[0], amount=100, client_key="a")
    services.send_tip(stream_id=stream.pk, tipper=fans[1], amount=30, client_key="b")
    services.send_tip(stream_id=stream.pk, tipper=fans[0], amount=20, client_key="c")
    services.send_chat(stream_id=stream.pk, user=fans[2], text="hello", client_key="m1")
    traveller.move_to(START + timedelta(minutes=42))
    stream = services.end_stream(stream_id=stream.pk, actor=host)
    summary = stream.summary
    assert summary["duration_s"] == 42 * 60
    assert (summary["peak_viewers"], summary["unique_viewers"], summary["new_followers"], summary["chat_messages"]) == (3, 3, 2, 1)
    assert summary["tips"] == {"count": 3, "tokens": 150}
    assert summary["tickets"] == {"count": 3, "tokens": 30, "refunded_count": 0, "refunded_tokens": 0, "refund_due": False}
    assert [(t["username"], t["tokens"]) for t in summary["top_tippers"]] == [("fan0", 120), ("fan1", 30)]
    assert selectors.stream_payload(stream, viewer=host)["summary"] == summary
    assert selectors.stream_payload(stream, viewer=fans[0])["summary"] is None


def test_a_host_banned_by_a_moderator_goes_off_air(host):
    from accounts import hooks
    from streaming.apps import _host_banned

    assert _host_banned in hooks.user_banned._receivers  # accounts' ban calls it; it ends the stream after commit
    stream = live(host)
    assert services.end_streams_of_banned_host(host_id=host.pk) == [str(stream.pk)]
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == (StreamStatus.ENDED, EndReason.MODERATED)
