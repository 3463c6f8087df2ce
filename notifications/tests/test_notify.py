import pytest
from django.db import transaction

from notifications.models import Notification, NotificationKind
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
