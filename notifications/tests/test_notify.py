import pytest
from django.db import transaction

from notifications import services
from notifications.models import Notification, NotificationKind, PushSubscription
from notifications.services import notify

pytestmark = pytest.mark.django_db


def test_notify_writes_once_under_a_dedupe_key(alice, bob):
    first = notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="alice tipped 5", actor=alice, dedupe_key="tip:1")
    again = notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="alice tipped 5", actor=alice, dedupe_key="tip:1")
    assert first.pk == again.pk
    assert Notification.objects.filter(recipient=bob).count() == 1


def test_nobody_is_notified_of_their_own_act(bob):
    assert notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="x", actor=bob) is None
    assert not Notification.objects.exists()


def test_a_rolled_back_cause_leaves_no_notification(alice, bob):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            notify(recipient=bob, kind=NotificationKind.MESSAGE_NEW, text="hi", actor=alice)
            raise RuntimeError("the cause failed")
    assert not Notification.objects.exists()


def test_unknown_kind_is_a_programming_error(bob):
    with pytest.raises(ValueError):
        notify(recipient=bob, kind="nonsense", text="x")


# --- channels, preferences and delivery after commit ----------------------------------

def test_the_socket_event_leaves_only_after_commit(alice, bob, listen, django_capture_on_commit_callbacks):
    tab = listen(bob)
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="alice tipped 5", actor=alice)
        assert tab.events() == []  # not yet committed: nothing announced
    [event] = tab.of_type("notification.new")
    assert event["notification"]["id"] == str(notification.pk)
    assert event["notification"]["read"] is False


def test_in_app_off_stores_it_read_and_sends_no_socket_event(alice, bob, listen, django_capture_on_commit_callbacks):
    services.update_preferences(user=bob, kinds_channels={"tip_received": {"in_app": False}})
    tab = listen(bob)
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="alice tipped 5", actor=alice)
    assert notification.read_at is not None
    assert tab.of_type("notification.new") == []
    from notifications.selectors import unread_count

    assert unread_count(bob.pk) == 0


def test_every_channel_off_stores_nothing(alice, bob):
    services.update_preferences(user=bob, kinds_channels={"tip_received": {"in_app": False, "push": False, "email": False}})
    assert notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="x", actor=alice) is None
    assert not Notification.objects.exists()


def test_defaults_and_what_a_person_changed(bob):
    prefs = services.preferences_of(bob)
    assert prefs["kinds"]["call_incoming"] == {"in_app": True, "push": True, "email": False}
    assert prefs["kinds"]["payout_status"] == {"in_app": True, "push": True, "email": True}
    assert prefs["kinds"]["moderation"]["email"] is True
    assert prefs["kinds"]["purchase_credited"] == {"in_app": True, "push": False, "email": False}
    services.update_preferences(user=bob, kinds_channels={"call_incoming": {"email": True}})
    services.update_preferences(user=bob, kinds_channels={"call_incoming": {"push": False}})
    assert services.preferences_of(bob)["kinds"]["call_incoming"] == {"in_app": True, "push": False, "email": True}
    # Back to the default: nothing stored for it, so a later change of the default reaches bob.
    services.update_preferences(user=bob, kinds_channels={"call_incoming": {"push": True, "email": False}})
    assert bob.notification_settings.channels == {}


def test_moderation_in_app_cannot_be_turned_off(bob):
    services.update_preferences(user=bob, kinds_channels={"moderation": {"in_app": False}})
    assert services.preferences_of(bob)["kinds"]["moderation"]["in_app"] is True


def test_bad_preferences_change_nothing(bob):
    from digis.errors import DomainError

    for bad in ({"nonsense": {"push": True}}, {"tip_received": {"fax": True}}, {"tip_received": {"push": "yes"}}):
        with pytest.raises(DomainError) as err:
            services.update_preferences(user=bob, kinds_channels=bad)
        assert err.value.code == "invalid_preferences"
    assert services.preferences_of(bob)["kinds"]["tip_received"]["push"] is True


def test_push_is_queued_after_commit_only_for_people_with_a_subscription(
    alice, bob, vapid, django_capture_on_commit_callbacks, monkeypatch
):
    from notifications import tasks

    queued = []
    monkeypatch.setattr(tasks.deliver_push, "delay", lambda ids: queued.append(ids))
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="no device yet", actor=alice)
    assert queued == []
    PushSubscription.objects.create(user=bob, endpoint="https://fcm.googleapis.com/x", endpoint_hash="h", p256dh="p", auth="a")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="with a device", actor=alice)
    assert queued == []
    for callback in callbacks:
        callback()
    assert queued == [[str(notification.pk)]]


def test_a_broken_broker_never_fails_the_cause(alice, bob, vapid, django_capture_on_commit_callbacks, monkeypatch):
    from notifications import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.deliver_push, "delay", broker_down)
    monkeypatch.setattr(tasks.send_notification_email, "delay", broker_down)
    services.update_preferences(user=bob, kinds_channels={"tip_received": {"email": True}})
    PushSubscription.objects.create(user=bob, endpoint="https://fcm.googleapis.com/x", endpoint_hash="h", p256dh="p", auth="a")
    with django_capture_on_commit_callbacks(execute=True):
        assert notify(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text="x", actor=alice) is not None


# --- "not while viewing that thread" ---------------------------------------------------


def test_a_new_message_for_the_thread_on_screen_is_stored_read_and_not_pushed(
    alice, bob, listen, django_capture_on_commit_callbacks
):
    tab = listen(bob)
    services.set_viewing(user_id=bob.pk, socket_id="tab-1", thread="t-1")
    with django_capture_on_commit_callbacks(execute=True):
        shown = notify(recipient=bob, kind=NotificationKind.MESSAGE_NEW, text="hi", actor=alice, data={"thread": "t-1"})
        other = notify(recipient=bob, kind=NotificationKind.MESSAGE_NEW, text="yo", actor=alice, data={"thread": "t-2"})
    events = tab.of_type("notification.new")
    assert [e["notification"]["id"] for e in events] == [str(other.pk)]
    shown.refresh_from_db()
    assert shown.read_at is not None
    # The tab moves on: the next message of t-1 notifies.
    services.set_viewing(user_id=bob.pk, socket_id="tab-1", thread=None)
    assert not services.is_viewing(user_id=bob.pk, thread="t-1")


def test_viewing_runs_out_without_a_refresh(bob, settings):
    import time_machine

    with time_machine.travel("2026-03-01 12:00:00+00:00", tick=False) as traveller:
        services.set_viewing(user_id=bob.pk, socket_id="tab-1", thread="t-1")
        services.set_viewing(user_id=bob.pk, socket_id="tab-2", thread="t-9")
        assert services.is_viewing(user_id=bob.pk, thread="t-1")
        traveller.shift(settings.PRESENCE_TTL_S + 1)
        assert not services.is_viewing(user_id=bob.pk, thread="t-1")


# --- the message filter -------------------------------------------------------------------


def test_message_filter_is_off_by_default(alice, bob):
    assert services.should_notify_message(recipient=bob, sender=alice, has_paid=False)


def test_message_filter_never_paid_asks_messaging_only_when_needed(alice, bob):
    asked = []

    def has_paid():
        asked.append(1)
        return False

    assert services.should_notify_message(recipient=bob, sender=alice, has_paid=has_paid)
    assert asked == []
    services.update_preferences(user=bob, filter_never_paid=True)
    assert not services.should_notify_message(recipient=bob, sender=alice, has_paid=has_paid)
    assert services.should_notify_message(recipient=bob, sender=alice, has_paid=True)


def test_message_filter_not_following(alice, bob):
    from creators.services import follow_creator
    from creators.tests.factories import make_creator_profile

    make_creator_profile(bob)
    services.update_preferences(user=alice, filter_not_following=True)
    assert not services.should_notify_message(recipient=alice, sender=bob, has_paid=True)
    follow_creator(follower=alice, creator_user_id=bob.pk)
    assert services.should_notify_message(recipient=alice, sender=bob, has_paid=True)
