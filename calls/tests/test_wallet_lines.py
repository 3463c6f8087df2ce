"""A call in the wallet: one line each for the fan and the creator, in people's words,
matching the call's receipt and the ledger."""

import re

import pytest

from calls import services
from calls.tests.test_services import connected_call, talk
from ledger import selectors

pytestmark = pytest.mark.django_db


def test_a_call_is_one_line_for_each_party_matching_the_receipt(ready, traveller, client, settings):
    # The 30-day window is read on the travelled clock: ledger rows must be
    # stamped by it too (ledger_post() would stamp them with the database's).
    settings.LEDGER_POST_IN_DATABASE = False
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    talk(call, alice, bob, traveller, until=150)
    call = services.end_call(call_id=call.pk, user=alice)
    paid = call.tokens_charged - call.tokens_refunded

    fan_line = selectors.activity(user=alice)[0][0]
    creator_line = selectors.activity(user=bob)[0][0]

    assert (fan_line["title"], fan_line["detail"], fan_line["amount"]) == ("Video call with bob", "2:30", -paid)
    assert fan_line["url"] == f"/calls/{call.pk}/"
    assert (creator_line["title"], creator_line["amount"], creator_line["role"]) == ("Video call with alice", call.creator_earnings, "earned")

    client.force_login(alice)
    page = client.get("/wallet/").content.decode()
    row = re.search(r'<li class="activity-row" data-kind="call_charge">(.*?)</li>', page, re.S)[1]
    assert "Video call with bob" in row and "2:30" in row and f"−{paid}<" in row
    assert re.search(rf"Spent in the last 30 days</p>\s*<p class=\"stat-figure\">{paid} ", page)

    client.force_login(bob)
    page = client.get("/wallet/").content.decode()
    assert re.search(rf"Earned in the last 30 days</p>\s*<p class=\"stat-figure\">{call.creator_earnings} ", page)
    assert "Earnings released" not in page and "call_unused_time" not in page
