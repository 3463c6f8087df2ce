"""Go-live fan-out: thousands of followers, in Celery batches after commit, each notified once."""

import time
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Block
from creators.models import Follow
from creators.tests.factories import make_creator_profile
from notifications.models import Notification, NotificationKind
from notifications.services import notify_batch, notify_followers, subscribe_push

FOLLOWERS = 5000


def wait_for(predicate, *, timeout: float = 900.0, what: str = ""):
    """Wait for the worker thread's work (it runs beside us; we only look). The timeout
    is a ceiling for a machine under heavy load, not a speed requirement."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def make_followers(creator, n: int) -> list:
    User = get_user_model()
    users = [User(username=f"fan{i:05d}", email=f"fan{i:05d}@example.test", password="!") for i in range(n)]
    User.objects.bulk_create(users, batch_size=1000)
    ids = list(User.objects.filter(username__startswith="fan").values_list("pk", flat=True))
    Follow.objects.bulk_create([Follow(follower_id=user_id, creator_id=creator.pk) for user_id in ids], batch_size=1000)
    return ids


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_going_live_notifies_5000_followers_once_each_through_the_worker(bob, celery_worker_thread, push_service, settings):
    from django.utils import timezone

    settings.NOTIFICATIONS_FANOUT_BATCH = 500
    profile = make_creator_profile(bob)
    follower_ids = make_followers(bob, FOLLOWERS)
    # Two followers who must not hear: one banned, one who blocked bob.
    User = get_user_model()
    banned, blocker = User.objects.create(username="banned-fan", email="b@example.test", banned_at=timezone.now()), User.objects.create(username="blocker-fan", email="c@example.test")
    Follow.objects.bulk_create([Follow(follower=banned, creator=profile), Follow(follower=blocker, creator=profile)])
    Block.objects.create(blocker=blocker, blocked=bob)
    # Some followers have push on: each device must get exactly one push.
    browsers = {}
    for user_id in follower_ids[:: FOLLOWERS // 20]:
        browsers[user_id] = push_service.new_browser()
        subscribe_push(user=User.objects.get(pk=user_id), **browsers[user_id].subscription)
    stream_id = uuid.uuid4()

    with transaction.atomic():
        notify_followers(
            creator=bob, kind=NotificationKind.CREATOR_LIVE, text="bob is live: Friday Q&A",
            url="/explore/", data={"stream": str(stream_id)}, dedupe_key=f"live:{stream_id}",
        )
        # Nothing is queued until the stream's transaction commits.
        assert not Notification.objects.exists()

    live = Notification.objects.filter(kind=NotificationKind.CREATOR_LIVE)
    wait_for(lambda: live.count() >= FOLLOWERS, what="5000 notifications")
    wait_for(lambda: all(browser.messages for browser in browsers.values()), what="the pushes")
    assert live.count() == FOLLOWERS
    assert set(live.values_list("recipient_id", flat=True)) == set(follower_ids)
    assert not live.filter(recipient__in=[banned, blocker]).exists()

    # A retried batch and a repeated fan-out notify nobody twice.
    job = {"creator_id": str(bob.pk), "kind": NotificationKind.CREATOR_LIVE, "text": "again", "url": "", "data": {},
           "dedupe_key": f"live:{stream_id}", "target_type": "", "target_id": ""}
    assert notify_batch(job=job, recipient_ids=[str(i) for i in follower_ids]) == 0
    with transaction.atomic():
        notify_followers(creator=bob, kind=NotificationKind.CREATOR_LIVE, text="again", dedupe_key=f"live:{stream_id}")
    marker = User.objects.create(username="late-fan", email="late@example.test")
    Follow.objects.create(follower=marker, creator=profile)  # picked up by a later fan-out
    with transaction.atomic():
        notify_followers(creator=bob, kind=NotificationKind.CREATOR_LIVE, text="again", dedupe_key=f"live:{stream_id}")
    wait_for(lambda: live.filter(recipient=marker).exists(), what="the late follower")
    assert live.count() == FOLLOWERS + 1
    assert all(len(browser.messages) == 1 for browser in browsers.values())
    assert push_service.rejected == []


@pytest.mark.django_db
def test_a_fan_out_needs_a_dedupe_key(bob):
    with pytest.raises(ValueError):
        notify_followers(creator=bob, kind=NotificationKind.CREATOR_LIVE, text="x", dedupe_key="")


@pytest.mark.django_db
def test_batches_respect_each_followers_channels(bob, alice, mallory):
    from notifications.services import update_preferences

    update_preferences(user=mallory, kinds_channels={"creator_live": {"in_app": False, "push": False, "email": False}})
    update_preferences(user=alice, kinds_channels={"creator_live": {"in_app": False}})
    job = {"creator_id": str(bob.pk), "kind": NotificationKind.CREATOR_LIVE, "text": "live", "url": "", "data": {},
           "dedupe_key": "live:1", "target_type": "", "target_id": ""}
    assert notify_batch(job=job, recipient_ids=[str(alice.pk), str(mallory.pk), str(bob.pk)]) == 1
    [only] = Notification.objects.all()
    assert only.recipient_id == alice.pk and only.read_at is not None  # in-app off: stored read


@pytest.mark.django_db
def test_a_batch_tells_each_followers_open_tabs_once_after_commit(bob, alice, mallory, listen, django_capture_on_commit_callbacks):
    from accounts.tests.factories import make_user

    carol = make_user("carol")
    tabs = {user.pk: listen(user) for user in (alice, mallory, carol)}
    job = {"creator_id": str(bob.pk), "kind": NotificationKind.CREATOR_LIVE, "text": "bob is live", "url": "", "data": {},
           "dedupe_key": "live:2", "target_type": "", "target_id": ""}
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_batch(job=job, recipient_ids=[str(alice.pk), str(mallory.pk), str(carol.pk)]) == 3
    for user_id, tab in tabs.items():
        [event] = tab.of_type("notification.new")
        assert event["notification"]["text"] == "bob is live"
        assert Notification.objects.get(pk=event["notification"]["id"]).recipient_id == user_id
