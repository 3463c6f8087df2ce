"""Broadcasts: delivered by Celery in batches, never in the request; each recipient exactly once,
also when a batch or the planning task runs again."""

import time

import pytest
from django.db.models import Count

from accounts.models import User
from accounts.services import block_user
from creators.models import Follow
from ledger.services import charge_with_fee
from messaging import services
from messaging.models import Broadcast, Conversation, Message
from messaging.tests.factories import fund, make_messaging_creator, open_between, send

pytestmark = pytest.mark.django_db


def followers_of(creator, count: int, prefix: str = "follower") -> list:
    """``count`` fans following ``creator``, made in bulk (as the benchmark does)."""
    users = [User(username=f"{prefix}{n}", email=f"{prefix}{n}@example.test", password="!") for n in range(count)]
    User.objects.bulk_create(users, batch_size=1000)
    Follow.objects.bulk_create([Follow(follower=user, creator_id=creator.pk) for user in users], batch_size=1000)
    return users


def deliver_everything(broadcast_id) -> int:
    delivered = 0
    for batch in services.plan_broadcast(broadcast_id=broadcast_id):
        delivered += services.deliver_broadcast(broadcast_id=broadcast_id, recipient_ids=batch)
    return delivered


def test_nothing_is_delivered_in_the_request(api_as, bob, bob_profile, django_capture_on_commit_callbacks):
    followers_of(bob, 3)
    from unittest import mock

    with mock.patch("messaging.tasks.plan_broadcast_task.delay") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_as(bob).post("/api/broadcasts/", {"text": "New video!", "audience": "followers"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert Message.objects.count() == 0
    queued.assert_called_once_with(response.json()["id"])


def test_batches_reach_each_follower_once_even_when_run_again(bob, bob_profile, settings):
    settings.MESSAGE_BROADCAST_BATCH = 100
    fans = followers_of(bob, 250)
    broadcast, _ = services.start_broadcast(creator=bob, text="Live at 8!", audience="followers")
    batches = services.plan_broadcast(broadcast_id=broadcast.pk)
    assert [len(batch) for batch in batches] == [100, 100, 50]
    # every batch runs, the second one twice (a retried task) and the plan again (a redelivered task)
    delivered = [services.deliver_broadcast(broadcast_id=broadcast.pk, recipient_ids=batch) for batch in batches]
    assert delivered == [100, 100, 50]
    assert services.deliver_broadcast(broadcast_id=broadcast.pk, recipient_ids=batches[1]) == 0
    assert services.plan_broadcast(broadcast_id=broadcast.pk) == []
    per_recipient = Message.objects.filter(broadcast=broadcast).values("recipient").annotate(n=Count("id"))
    assert len(per_recipient) == 250 and {row["n"] for row in per_recipient} == {1}
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.recipient_count, broadcast.delivered_count) == ("done", 250, 250)
    # each fan sees it in their inbox as from bob
    from messaging import selectors

    [conversation], _ = selectors.inbox(fans[7])
    assert conversation.creator_id == bob.pk and conversation.last_message.text == "Live at 8!"


def test_a_fan_who_already_talks_to_the_creator_gets_it_in_that_conversation(funded_alice, bob, bob_profile):
    from creators.services import follow_creator

    follow_creator(follower=funded_alice, creator_user_id=bob.pk)
    existing = open_between(funded_alice, bob)
    held = send(funded_alice, existing, "a paid question")
    broadcast, _ = services.start_broadcast(creator=bob, text="Hello all", audience="followers")
    assert deliver_everything(broadcast.pk) == 1
    assert Conversation.objects.count() == 1
    # a broadcast is not an answer: the paid message stays held
    held.refresh_from_db()
    assert held.escrow_state == "held"
    # the fan's reply to it is an ordinary paid message
    assert send(funded_alice, existing, "thanks!").escrow_state == "held"


def test_spenders_audience_and_blocks(funded_alice, bob, bob_profile):
    from accounts.tests.factories import make_user

    carol, dave = make_user("carol"), make_user("dave")
    for fan in (carol, dave):
        fund(fan, 100)
    charge_with_fee(payer=funded_alice, creator=bob, amount=50, kind="tip", idempotency_key="t1")
    charge_with_fee(payer=carol, creator=bob, amount=20, kind="tip", idempotency_key="t2")
    charge_with_fee(payer=dave, creator=bob, amount=60, kind="tip", idempotency_key="t3")
    block_user(blocker=dave, blocked=bob)
    broadcast, _ = services.start_broadcast(creator=bob, text="For my top fans", audience="spenders", min_spend=50)
    assert deliver_everything(broadcast.pk) == 1
    assert list(Message.objects.filter(broadcast=broadcast).values_list("recipient__username", flat=True)) == ["alice"]


def test_the_creators_own_stream_stays_free_of_broadcast_copies(funded_alice, bob, bob_profile):
    from messaging import selectors

    followers_of(bob, 3)
    broadcast, _ = services.start_broadcast(creator=bob, text="hi", audience="followers")
    deliver_everything(broadcast.pk)
    assert selectors.stream_after(user=bob, after=0) == ([], False)
    recipient = User.objects.get(username="follower1")
    assert [m.text for m in selectors.stream_after(user=recipient, after=0)[0]] == ["hi"]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_broadcast_to_5000_followers_through_a_real_worker_reaches_each_once(broadcast_worker, api_as):
    from accounts.tests.factories import make_creator
    from notifications.models import Notification

    creator = make_creator("popular")
    make_messaging_creator(creator, price=5)
    followers_of(creator, 5000)
    response = api_as(creator).post("/api/broadcasts/", {"text": "Thank you, 5k!", "audience": "followers"}, format="json")
    assert response.status_code == 202
    broadcast_id = response.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        if broadcast.status == "done":
            break
        time.sleep(0.5)
    assert (broadcast.status, broadcast.recipient_count, broadcast.delivered_count) == ("done", 5000, 5000)
    per_recipient = Message.objects.filter(broadcast_id=broadcast_id).values("recipient").annotate(n=Count("id"))
    assert per_recipient.count() == 5000 and {row["n"] for row in per_recipient} == {1}
    assert Notification.objects.filter(kind="message_new", data__broadcast_id=broadcast_id).count() == 5000
    # a batch task delivered again (a retry after a lost acknowledgement) changes nothing
    some = list(Message.objects.filter(broadcast_id=broadcast_id).values_list("recipient_id", flat=True)[:500])
    assert services.deliver_broadcast(broadcast_id=broadcast_id, recipient_ids=[str(pk) for pk in some]) == 0
    assert Message.objects.filter(broadcast_id=broadcast_id).count() == 5000
