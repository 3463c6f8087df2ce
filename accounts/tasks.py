"""Account e-mails, sent by a worker: never inside a request, retried while the mail server is away."""

import logging
import smtplib

from celery import shared_task

logger = logging.getLogger(__name__)

# What a mail server that is down, unreachable or refusing us raises.
MAIL_ERRORS = (smtplib.SMTPException, OSError)


def _retry_or_give_up(task, exc) -> None:
    if task.request.is_eager:
        # The embedded default has no worker to retry later: say so and carry on.
        logger.warning("e-mail not sent (mail server unavailable): %s", exc)
        return
    raise task.retry(exc=exc, countdown=min(600, 30 * 2 ** task.request.retries))


@shared_task(bind=True, max_retries=6, ignore_result=True)
def send_verification_email(self, user_id: str) -> None:
    from accounts import services
    from accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True, email_verified=False).first()
    if user is None:  # verified meanwhile, or gone
        return
    try:
        services.send_verification_email(user=user)
    except MAIL_ERRORS as exc:
        _retry_or_give_up(self, exc)


@shared_task(bind=True, max_retries=6, ignore_result=True)
def send_password_reset(self, email: str) -> None:
    from accounts.passwords import send_password_reset as send

    try:
        send(email=email)
    except MAIL_ERRORS as exc:
        _retry_or_give_up(self, exc)
