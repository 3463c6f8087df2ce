"""Receivers for the core's hook lists (``accounts.hooks``), registered from NotificationsConfig.ready().

A moderator's decision about your account is a MODERATION notification,
written in the moderator's transaction. The moderator is not named (actor
None): the decision is the platform's. A banned person cannot sign in, so
e-mail (on by default for this kind) is how they hear of it.
"""

from django.utils import formats


def _when(moment) -> str:
    return formats.date_format(moment, "DATETIME_FORMAT") + " UTC"


def on_user_banned(*, user, actor, reason: str, until=None, notice: str | None = None) -> None:
    from notifications.models import NotificationKind
    from notifications.services import notify

    if notice:  # the caller's words (moderation: what was reviewed, not the audit reason)
        text = notice
    elif until is None:
        text = f"Your account was banned by a moderator. Reason: {reason}"
    else:
        text = f"Your account is suspended until {_when(until)}. Reason: {reason}"
    notify(
        recipient=user,
        kind=NotificationKind.MODERATION,
        text=text,
        data={"action": "suspend" if until else "ban", "until": until.isoformat() if until else None},
        dedupe_key=f"moderation:ban:{user.banned_at.isoformat() if user.banned_at else ''}",
    )


def on_user_unbanned(*, user, actor, reason: str) -> None:
    from notifications.models import NotificationKind
    from notifications.services import notify

    notify(
        recipient=user,
        kind=NotificationKind.MODERATION,
        text=f"A moderator lifted the restriction on your account. Reason: {reason}",
        url="/",
        data={"action": "unban"},
    )


def on_user_deleted(*, user) -> None:
    # A deleted account's browsers must stop receiving its pushes (and the
    # endpoints are personal data). Its notifications stay with the tombstone.
    from notifications.models import PushSubscription

    PushSubscription.objects.filter(user=user).delete()


def register() -> None:
    from accounts import hooks

    hooks.user_banned.register(on_user_banned)
    hooks.user_unbanned.register(on_user_unbanned)
    hooks.user_deleted.register(on_user_deleted)
