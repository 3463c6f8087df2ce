"""A mail server that is down never fails a sign-up, a resend or a password reset."""

import socket

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tasks import send_password_reset, send_verification_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_server_down(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2


def test_sign_up_succeeds_while_the_mail_server_is_down(mail_server_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/auth/register/",
            {"username": "newfan", "email": "newfan@example.test", "password": "a-long-enough-secret-42"},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert User.objects.filter(username="newfan").exists()


def test_the_email_tasks_give_up_quietly_without_a_worker_to_retry(mail_server_down, alice):
    send_verification_email.apply(args=[str(alice.pk)]).get()
    send_password_reset.apply(args=[alice.email]).get()


def test_with_a_worker_they_retry_later(mail_server_down, alice, monkeypatch):
    from celery.exceptions import Retry

    calls = []
    monkeypatch.setattr(send_verification_email, "retry", lambda exc, countdown: calls.append(countdown) or Retry())
    send_verification_email.push_request(is_eager=False, retries=2)
    try:
        with pytest.raises(Retry):
            send_verification_email.run(str(alice.pk))
    finally:
        send_verification_email.pop_request()
    assert calls == [120]
