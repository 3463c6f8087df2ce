"""Races on PostgreSQL with real threads: the invariants hold whoever wins."""

import pytest

from accounts.tests.factories import make_user
from digis.testing import run_concurrently
from ledger import checks
from ledger.models import Transaction, TransactionKind
from streaming import services
from streaming.exceptions import AlreadyLive, StreamNotLive
from streaming.models import LiveStream, Ticket, Tip
from streaming.tests.conftest import balance, fund, live

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]


def test_the_same_tip_sent_eight_times_at_once_charges_once(host, alice):
    fund(alice, 100)
    stream = live(host)
    results = run_concurrently([
        lambda: services.send_tip(stream_id=stream.pk, tipper=alice, amount=10, message="x", client_key="same") for _ in range(8)
    ])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({tip.pk for tip, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert balance(alice) == 90 and Tip.objects.count() == 1
    assert Transaction.objects.filter(kind=TransactionKind.TIP).count() == 1
    assert all(not problems for problems in checks.run_all().values())


def test_one_viewer_joining_from_eight_tabs_at_once_buys_one_ticket(host, alice):
    fund(alice, 100)
    stream = live(host, audience="ticket", ticket_price=30)
    results = run_concurrently([lambda: services.join_stream(stream_id=stream.pk, user=alice) for _ in range(8)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert balance(alice) == 70 and Ticket.objects.count() == 1


def test_two_go_live_clicks_at_once_make_one_stream(host):
    results = run_concurrently([lambda: live(host, title=f"Click {n}") for n in range(4)])
    assert sum(isinstance(r, LiveStream) for r in results) == 1
    assert all(isinstance(r, (LiveStream, AlreadyLive)) for r in results), results
    assert LiveStream.objects.filter(host=host).count() == 1


def test_tickets_racing_the_end_are_either_sold_before_it_or_refused(host, settings):
    settings.LIVE_P2P_MAX_VIEWERS = 10
    fans = [make_user(f"fan{n}") for n in range(6)]
    for fan in fans:
        fund(fan, 100)
    stream = live(host, audience="ticket", ticket_price=10)
    work = [lambda fan=fan: services.join_stream(stream_id=stream.pk, user=fan) for fan in fans]
    work.append(lambda: services.end_stream(stream_id=stream.pk, actor=host))
    results = run_concurrently(work)
    assert all(not isinstance(r, Exception) or isinstance(r, StreamNotLive) for r in results), results
    stream.refresh_from_db()
    sold = Ticket.objects.filter(stream=stream).count()
    assert Transaction.objects.filter(kind=TransactionKind.TICKET).count() == sold
    # Ended at once (well within the refund window): every ticket sold before the end comes back.
    services.refund_tickets(stream_id=stream.pk)
    assert [balance(fan) for fan in fans] == [100] * 6
    assert all(not problems for problems in checks.run_all().values())
