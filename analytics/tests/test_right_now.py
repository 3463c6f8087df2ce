"""'Right now': users online, live calls, calls ringing, live streams; exact."""

import datetime as dt
import types

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


def test_live_calls_and_rings_are_counted_from_the_live_rows_only(people):
    alice, bob, _ = people
    for n in range(2):
        live_call("requested", n)
    for n, status in enumerate(("accepted", "active", "active", "paused")):
        live_call(status, n)
    for minute in range(30):
        ended_call(alice, bob, ended_at=at(2026, 1, 1, 12, minute), seconds=60)

    with CaptureQueriesContext(connection) as queries:
        now = selectors.right_now()

    assert now["calls_ringing"] == 2
    assert now["live_calls"] == 4
    # one query for both figures, filtered on the live states (the partial index's predicate)
    call_queries = [q["sql"] for q in queries.captured_queries if "calls_callsession" in q["sql"]]
    assert len(call_queries) == 1 and "requested" in call_queries[0] and "ended" not in call_queries[0]


def test_live_streams_come_from_streaming_when_it_exists(monkeypatch):
    monkeypatch.setattr(selectors, "_optional_module", lambda name: None)
    assert selectors.right_now()["live_streams"] is None  # before streaming lands: shown as "–"

    counting = types.SimpleNamespace(live_stream_count=lambda: 7)
    monkeypatch.setattr(selectors, "_optional_module", lambda name: counting if name == "streaming.selectors" else None)
    assert selectors.right_now()["live_streams"] == 7

    listing = types.SimpleNamespace(live_user_ids=lambda ids: {"a", "b", "c"})
    monkeypatch.setattr(selectors, "_optional_module", lambda name: listing if name == "streaming.selectors" else None)
    assert selectors.right_now()["live_streams"] == 3


def test_the_right_now_endpoint(staffer, api_as):
    presence.mark_connected(staffer.pk)
    body = api_as(staffer).get("/api/staff/analytics/now/").json()
    assert body["users_online"] == 1 and body["live_calls"] == 0 and body["calls_ringing"] == 0
