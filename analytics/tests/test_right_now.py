"""'Right now': users online, live calls, calls ringing, live streams; exact."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import make_creator, make_user
from analytics import selectors
from analytics.tests.conftest import at, ended_call
from digis.realtime import online_set, presence

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_presence():
    online_set.clear()
    yield
    online_set.clear()


def test_users_online_counts_people_not_sockets(people):
    alice, bob, carol = people
    presence.mark_connected(alice.pk)
    presence.mark_connected(bob.pk)
    presence.mark_connected(bob.pk)  # a second tab
    assert selectors.right_now()["users_online"] == 2
    presence.mark_disconnected(bob.pk)  # one tab closed: still online
    assert presence.online_count() == 2
    presence.mark_disconnected(bob.pk)
    assert presence.online_count() == 1
    presence.refresh(carol.pk)  # a ping from a socket whose presence had expired
    assert presence.online_count() == 2


def test_a_user_whose_presence_expired_is_not_counted(people, settings):
    import time_machine

    alice = people[0]
    settings.PRESENCE_TTL_S = 90
    with time_machine.travel(at(2026, 6, 1, 12), tick=False) as traveller:
        presence.mark_connected(alice.pk)  # the process then dies without saying goodbye
        assert presence.online_count() == 1
        traveller.move_to(at(2026, 6, 1, 12) + dt.timedelta(seconds=91))
        assert presence.online_count() == 0


def live_call(status, n):
    from calls.models import CallSession

    return CallSession.objects.create(fan=make_user(f"fan{status}{n}"), creator=make_creator(f"creator{status}{n}"),
                                      kind="voice", rate=5, status=status)


def test_live_calls_rings_and_streams_are_counted_from_the_live_rows_in_one_statement(people):
    from streaming.services import end_stream
    from streaming.tests.conftest import live, make_host

    alice, bob, carol = people
    for n in range(2):
        live_call("requested", n)
    for n, status in enumerate(("accepted", "active", "active", "paused")):
        live_call(status, n)
    for minute in range(30):
        ended_call(alice, bob, ended_at=at(2026, 1, 1, 12, minute), seconds=60)
    live(make_host(bob))
    ended = live(make_host(carol))
    end_stream(stream_id=ended.pk, actor=carol)

    with CaptureQueriesContext(connection) as queries:
        now = selectors.right_now()

    assert (now["calls_ringing"], now["live_calls"], now["live_streams"]) == (2, 4, 1)
    # one statement for all three, filtered on the live states (the partial indexes' predicates)
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert "'requested'" in sql and "'ended'" not in sql and "'live'" in sql


def test_the_right_now_endpoint(staffer, api_as):
    presence.mark_connected(staffer.pk)
    body = api_as(staffer).get("/api/staff/analytics/now/").json()
    assert body["users_online"] == 1 and body["live_calls"] == 0 and body["calls_ringing"] == 0
