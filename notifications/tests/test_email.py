"""The e-mail channel: after commit, in a task, to verified addresses; a dead mail server fails nothing."""

import socket

import pytest

from notifications import services
from notifications.models import NotificationKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified(bob):
    bob.email_verified = True
    bob.save(update_fields=["email_verified"])
    return bob


def payout(user, **kwargs):
    return services.notify(recipient=user, kind=NotificationKind.PAYOUT_STATUS, text="Your payout of $120.00 was sent.", url="/wallet/", **kwargs)


def test_email_goes_out_after_commit_with_a_link(verified, mailoutbox, eager_tasks, django_capture_on_commit_callbacks, settings):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = payout(verified)
    assert mailoutbox == []
    for callback in callbacks:
        callback()
    [mail] = mailoutbox
    assert mail.to == [verified.email]
    assert mail.subject == "Digis: Payout status"
    assert f"{settings.SITE_URL}/notifications/{notification.pk}/open/" in mail.body
    assert "/settings/notifications/" in mail.body


def test_no_email_to_an_unconfirmed_address_or_when_turned_off(bob, verified, mailoutbox, eager_tasks, django_capture_on_commit_callbacks):
    verified.email_verified = False
    verified.save(update_fields=["email_verified"])
    with django_capture_on_commit_callbacks(execute=True):
        payout(verified)
    assert mailoutbox == []
    verified.email_verified = True
    verified.save(update_fields=["email_verified"])
    services.update_preferences(user=verified, kinds_channels={"payout_status": {"email": False}})
    with django_capture_on_commit_callbacks(execute=True):
        payout(verified)
    assert mailoutbox == []


def test_a_mail_server_that_is_down_never_fails_the_cause(verified, settings, eager_tasks, django_capture_on_commit_callbacks, caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    with django_capture_on_commit_callbacks(execute=True):
        notification = payout(verified)
    assert notification is not None
    assert any("notification e-mail failed" in record.message for record in caplog.records)
