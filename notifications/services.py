"""Every write to notifications.

``notify`` is what other apps call: inside their own transaction, from the
service that caused the event. The row commits with its cause; everything
that leaves the process (the socket's ``notification.new``, web push, e-mail)
happens only after commit, and push and e-mail in Celery tasks, so ``notify``
does no network I/O inside the caller's transaction: one read of the
recipient's settings and one INSERT.

What a person's channel switches mean (``notifications.kinds`` has the defaults):
- in-app off: the notification is still stored (it is the record that makes a
  replayed cause notify once, and what push and e-mail link to) but it is
  stored *read*: no bell count, no socket push; it shows, read, in the list.
- every channel off: nothing is stored; ``notify`` returns None.
- a new message while one of the recipient's tabs shows that thread: stored
  read, nothing pushed (``set_viewing``/``is_viewing``; checked after commit).
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from digis.realtime.events import send_event_on_commit, send_events_on_commit
from notifications import kinds, viewing
from notifications.exceptions import (
    InvalidPreferences,
    InvalidSubscription,
    NotificationNotFound,
    PushNotConfigured,
    PushSubscriptionNotFound,
)
from notifications.models import Channel, Notification, NotificationKind, NotificationSettings, PushSubscription

logger = logging.getLogger(__name__)

_KINDS = frozenset(NotificationKind.values)

# Re-exported: messaging tells us which thread a socket shows.
set_viewing = viewing.set_viewing
is_viewing = viewing.is_viewing


def _target_fields(target) -> dict:
    if target is None:
        return {"target_type": "", "target_id": ""}
    return {"target_type": target._meta.label_lower, "target_id": str(target.pk)}


def serialize(notification: Notification) -> dict:
    """The shape a client sees (API and socket event alike)."""
    return {
        "id": str(notification.pk),
        "kind": notification.kind,
        "text": notification.text,
        "url": notification.url,
        "actor": str(notification.actor_id) if notification.actor_id else None,
        "target_type": notification.target_type,
        "target_id": notification.target_id,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


# --- preferences -------------------------------------------------------------


class RecipientSettings(NamedTuple):
    """One person's notification settings as stored (a person without a row has the defaults)."""

    channels: dict | None  # overrides of the kinds' default channels
    filter_not_following: bool
    filter_never_paid: bool


def recipient_settings(user_id) -> RecipientSettings:
    """Everything ``notify`` and ``should_notify_message`` read about a recipient, in one indexed read.

    A caller that asks both (messaging, for every new message) reads it once and
    passes it to both.
    """
    row = (NotificationSettings.objects.filter(user_id=user_id)
           .values_list("channels", "filter_not_following", "filter_never_paid").first())
    return RecipientSettings(*row) if row else RecipientSettings(None, False, False)


def channels_for_many(user_ids: Iterable, kind: str) -> dict:
    """{user_id: {channel: bool}} for a batch of recipients (one query)."""
    ids = list(user_ids)
    overrides = dict(NotificationSettings.objects.filter(user_id__in=ids).values_list("user_id", "channels"))
    return {user_id: kinds.resolve_channels(kind, overrides.get(user_id)) for user_id in ids}


def preferences_of(user) -> dict:
    """Everything the settings page and the API show: every kind's channels and the message filters."""
    row = NotificationSettings.objects.filter(user_id=user.pk).first()
    overrides = row.channels if row else {}
    return {
        "kinds": {kind: kinds.resolve_channels(kind, overrides) for kind in NotificationKind.values},
        "filter_not_following": bool(row and row.filter_not_following),
        "filter_never_paid": bool(row and row.filter_never_paid),
    }


def update_preferences(
    *,
    user,
    kinds_channels: dict | None = None,
    filter_not_following: bool | None = None,
    filter_never_paid: bool | None = None,
) -> dict:
    """Change some switches; what is not mentioned keeps its value. Atomic; returns ``preferences_of``.

    ``kinds_channels`` is {kind: {channel: bool}}. Unknown kinds or channels
    and non-booleans are refused (400 invalid_preferences) with nothing
    changed; a locked channel (moderation in-app) silently stays on.
    """
    errors = {}
    for kind, channels in (kinds_channels or {}).items():
        if kind not in _KINDS:
            errors[kind] = ["Unknown kind."]
        elif not isinstance(channels, dict) or any(
            channel not in Channel.values or not isinstance(value, bool) for channel, value in channels.items()
        ):
            errors[kind] = [f"Give booleans for {', '.join(Channel.values)}."]
    for name, value in (("filter_not_following", filter_not_following), ("filter_never_paid", filter_never_paid)):
        if value is not None and not isinstance(value, bool):
            errors[name] = ["Must be true or false."]
    if errors:
        raise InvalidPreferences(fields=errors)
    with transaction.atomic(durable=True):
        row, _ = NotificationSettings.objects.select_for_update().get_or_create(user_id=user.pk)
        channels = dict(row.channels or {})
        for kind, chosen in (kinds_channels or {}).items():
            merged = {**kinds.resolve_channels(kind, channels), **chosen}
            defaults = kinds.policy(kind).defaults
            # Keep only what differs from the defaults (see the model).
            diff = {channel: value for channel, value in merged.items() if value != defaults[channel]}
            if diff:
                channels[kind] = diff
            else:
                channels.pop(kind, None)
        row.channels = channels
        if filter_not_following is not None:
            row.filter_not_following = filter_not_following
        if filter_never_paid is not None:
            row.filter_never_paid = filter_never_paid
        row.save()
    return preferences_of(user)


def should_notify_message(*, recipient, sender, has_paid: bool | Callable[[], bool],
                          settings_of_recipient: RecipientSettings | None = None) -> bool:
    """Whether a new message from ``sender`` should notify ``recipient``: the Mastodon-style filter.

    Messaging calls this before ``notify(kind=MESSAGE_NEW, ...)`` and decides
    what "paid" means: pass ``has_paid`` as a bool, or as a function that is
    called only when the recipient's filter needs the answer. A message is
    held back when any filter the recipient turned on matches the sender:
    "people I don't follow" (creators' follows) or "people who never paid me".
    The message itself is delivered either way; only its notification is filtered.
    ``settings_of_recipient``: ``recipient_settings(recipient.pk)``, when the caller read it already.
    """
    from creators.selectors import is_following

    row = settings_of_recipient or recipient_settings(recipient.pk)
    if row.filter_not_following and not is_following(recipient, sender.pk):
        return False
    if row.filter_never_paid:
        paid = has_paid() if callable(has_paid) else has_paid
        if not paid:
            return False
    return True


# --- notify --------------------------------------------------------------------


def notify(
    *,
    recipient,
    kind: str,
    text: str,
    actor=None,
    target=None,
    url: str = "",
    data: dict | None = None,
    dedupe_key: str = "",
    key_is_new: bool = False,
    settings_of_recipient: RecipientSettings | None = None,
) -> Notification | None:
    """Record that ``recipient`` should hear about something; deliver it after commit.

    Call inside the causing service's transaction. Idempotent under
    ``dedupe_key`` (per recipient): a replayed cause returns the first
    notification and delivers nothing. Never notifies someone of their own act.
    Respects the recipient's channel switches (module docstring). Returns None
    when nothing was written. For ``MESSAGE_NEW`` pass ``data={"thread": ...}``:
    the "not while viewing that thread" rule and the push topic use it.
    ``key_is_new``: the dedupe key names what the caller's transaction has just
    created (a new message's id), so no notification can hold it yet: the row is
    inserted without the savepoint a possible clash needs (two round trips
    fewer); a clash would then fail the caller's transaction. ``settings_of_recipient``:
    ``recipient_settings(recipient.pk)``, when the caller read it already.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if actor is not None and actor.pk == recipient.pk:
        return None
    channels = kinds.resolve_channels(kind, (settings_of_recipient or recipient_settings(recipient.pk)).channels)
    if not any(channels.values()):
        return None
    now = timezone.now()
    fields = dict(
        recipient=recipient,
        kind=kind,
        actor=actor,
        text=text[:300],
        url=url[:300],
        data=data or {},
        dedupe_key=dedupe_key[:200],
        read_at=None if channels[Channel.IN_APP] else now,
        **_target_fields(target),
    )
    if not dedupe_key or key_is_new:
        # Nothing unique can collide: no savepoint (two round trips saved
        # inside the caller's transaction, e.g. the Stripe webhook's, a new message's).
        notification = Notification.objects.create(**fields)
    else:
        try:
            with transaction.atomic():
                notification = Notification.objects.create(**fields)
        except IntegrityError:
            return Notification.objects.filter(recipient=recipient, dedupe_key=dedupe_key[:200]).first()
    transaction.on_commit(lambda: deliver_after_commit([(notification, channels)]))
    return notification


def deliver_after_commit(items: list[tuple[Notification, dict]]) -> None:
    """After commit: the socket event, then push and e-mail tasks. Never raises.

    Each step is guarded on its own: a socket layer or broker that is down
    costs that step (logged), never the cause, which has already committed.
    """
    from notifications import tasks, webpush

    push_ids, emails, live = [], [], []
    for notification, channels in items:
        try:
            if _held_back_while_viewing(notification):
                continue
            if channels[Channel.IN_APP]:
                live.append(([notification.recipient_id], {"type": "notification.new", "notification": serialize(notification)}))
            if channels[Channel.PUSH]:
                push_ids.append(notification)
            if channels[Channel.EMAIL]:
                emails.append(str(notification.pk))
        except Exception:
            logger.exception("notification delivery failed", extra={"notification": str(notification.pk)})
    try:
        if len(live) == 1:
            # One notification (the usual case): detached, so a request under
            # daphne (the Stripe webhook) does not wait for the push.
            send_event_on_commit(*live[0], detached=True)
        elif live:
            send_events_on_commit(live)  # a fan-out batch: one trip for all
    except Exception:
        logger.exception("notification socket push failed", extra={"notifications": len(live)})
    if push_ids and webpush.is_configured():
        try:
            with_subscriptions = set(
                PushSubscription.objects.filter(user_id__in={n.recipient_id for n in push_ids}).values_list("user_id", flat=True)
            )
            ids = [str(n.pk) for n in push_ids if n.recipient_id in with_subscriptions]
            if ids:
                tasks.deliver_push.delay(ids)
        except Exception:
            logger.exception("could not queue web push", extra={"notifications": len(push_ids)})
    for notification_id in emails:
        try:
            tasks.send_notification_email.delay(notification_id)
        except Exception:
            logger.exception("could not queue notification e-mail", extra={"notification": notification_id})


def _held_back_while_viewing(notification: Notification) -> bool:
    """A new message for a thread one of the recipient's tabs is showing: mark it read, push nothing."""
    if notification.kind != NotificationKind.MESSAGE_NEW:
        return False
    thread = str((notification.data or {}).get("thread") or "")
    if not thread or not viewing.is_viewing(user_id=notification.recipient_id, thread=thread):
        return False
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
    return True


# --- followers fan-out ------------------------------------------------------------


def notify_followers(
    *,
    creator,
    kind: str,
    text: str,
    dedupe_key: str,
    url: str = "",
    target=None,
    data: dict | None = None,
) -> None:
    """Notify every follower of ``creator`` (e.g. "went live"), in Celery batches after commit.

    Call inside the causing service's transaction; nothing happens if it rolls
    back, and the request never waits for the fan-out. ``dedupe_key`` is
    required (e.g. ``f"live:{stream.id}"``): each follower gets at most one
    notification under it, even when a batch task is retried or runs twice.
    Banned, deactivated and blocked followers are skipped; each follower's
    channel switches apply as in ``notify``.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if not dedupe_key:
        raise ValueError("notify_followers needs a dedupe_key: a retried batch must not notify twice")
    job = {
        "creator_id": str(creator.pk),
        "kind": kind,
        "text": text[:300],
        "url": url[:300],
        "data": data or {},
        "dedupe_key": dedupe_key[:200],
        **_target_fields(target),
    }

    def start():
        from notifications.tasks import fan_out_followers

        try:
            fan_out_followers.delay(job)
        except Exception:
            logger.exception("could not queue the followers fan-out", extra={"creator": job["creator_id"], "kind": kind})

    transaction.on_commit(start)


def notify_batch(*, job: dict, recipient_ids: list) -> int:
    """Write one batch of a fan-out and deliver what is new after commit. Returns how many were new.

    Safe to repeat and to run concurrently with itself: rows that exist under
    the job's dedupe_key are skipped, the insert ignores conflicts, and only
    rows this run actually inserted (found again by the ids it chose) are
    delivered, so each recipient is pushed once.
    """
    from django.contrib.auth import get_user_model

    from accounts.models import Block

    User = get_user_model()
    creator_id = uuid.UUID(job["creator_id"])
    kind, dedupe_key = job["kind"], job["dedupe_key"]
    now = timezone.now()
    ids = [uuid.UUID(str(i)) for i in recipient_ids if str(i) != job["creator_id"]]
    live = Q(banned_at__isnull=True) | Q(banned_until__lte=now)
    eligible = set(User.objects.filter(pk__in=ids, is_active=True).filter(live).values_list("pk", flat=True))
    blocked = Block.objects.filter(
        Q(blocker_id=creator_id, blocked_id__in=eligible) | Q(blocker_id__in=eligible, blocked_id=creator_id)
    ).values_list("blocker_id", "blocked_id")
    for blocker, blocked_id in blocked:
        eligible.discard(blocked_id if blocker == creator_id else blocker)
    with transaction.atomic(durable=True):
        done = set(Notification.objects.filter(recipient_id__in=eligible, dedupe_key=dedupe_key).values_list("recipient_id", flat=True))
        channels = channels_for_many(eligible - done, kind)
        rows = [
            Notification(
                id=uuid.uuid4(),
                recipient_id=user_id,
                kind=kind,
                actor_id=creator_id,
                target_type=job.get("target_type", ""),
                target_id=job.get("target_id", ""),
                text=job["text"],
                url=job["url"],
                data=job["data"],
                dedupe_key=dedupe_key,
                created_at=now,
                read_at=None if chosen[Channel.IN_APP] else now,
            )
            for user_id, chosen in channels.items()
            if any(chosen.values())
        ]
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        landed = set(Notification.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", flat=True))
        mine = [(row, channels[row.recipient_id]) for row in rows if row.pk in landed]
        transaction.on_commit(lambda: deliver_after_commit(mine))
    return len(mine)


# --- reading -----------------------------------------------------------------------


def _push_unread(user_id) -> None:
    from notifications.selectors import unread_count

    send_event_on_commit([user_id], {"type": "notification.unread", "unread": unread_count(user_id)})


def mark_read(*, user, notification_id) -> Notification:
    """Mark one of ``user``'s notifications read. Idempotent; someone else's is 404 notification_not_found.

    The user's other tabs hear the new unread count (``notification.unread``).
    """
    with transaction.atomic(durable=True):
        changed = Notification.objects.filter(pk=notification_id, recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
        if notification is None:
            raise NotificationNotFound()
        if changed:
            _push_unread(user.pk)
    return notification


def mark_all_read(*, user) -> int:
    """Mark every unread notification of ``user`` read. Returns how many changed."""
    with transaction.atomic(durable=True):
        changed = Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())
        if changed:
            _push_unread(user.pk)
    return changed


# --- web push subscriptions ------------------------------------------------------


def subscribe_push(*, user, endpoint: str, p256dh: str, auth: str, user_agent: str = "") -> tuple[PushSubscription, bool]:
    """Store this browser's push subscription for ``user``. Returns (subscription, created).

    Idempotent per endpoint: subscribing again refreshes the keys, and a
    browser that another account had subscribed moves to this one (the
    browser is now this person's). The endpoint must be a push service's
    (``webpush.check_endpoint``); the keys must be a P-256 point and a
    16-byte secret. 409 push_not_configured without VAPID keys.
    """
    from notifications import webpush

    if not webpush.is_configured():
        raise PushNotConfigured()
    errors = {}
    try:
        webpush.check_endpoint(endpoint)
    except ValueError as exc:
        errors["endpoint"] = [str(exc)]
    try:
        webpush.check_keys(p256dh=p256dh, auth=auth)
    except ValueError as exc:
        errors["keys"] = [str(exc)]
    if errors:
        raise InvalidSubscription(fields=errors)
    endpoint_hash = webpush.endpoint_hash(endpoint)
    values = {"user": user, "endpoint": endpoint, "p256dh": p256dh, "auth": auth, "user_agent": (user_agent or "")[:200]}
    with transaction.atomic(durable=True):
        existing = PushSubscription.objects.select_for_update().filter(endpoint_hash=endpoint_hash).first()
        if existing is None:
            try:
                with transaction.atomic():
                    return PushSubscription.objects.create(endpoint_hash=endpoint_hash, **values), True
            except IntegrityError:  # a concurrent subscribe of the same browser won
                existing = PushSubscription.objects.select_for_update().get(endpoint_hash=endpoint_hash)
        PushSubscription.objects.filter(pk=existing.pk).update(**values)
        existing.refresh_from_db()
    return existing, False


def unsubscribe_push(*, user, endpoint: str = "", subscription_id=None) -> bool:
    """Forget one of ``user``'s subscriptions, by endpoint or id. Idempotent; returns whether one was removed.

    By id, someone else's (or a missing one) is 404 push_subscription_not_found.
    """
    from notifications import webpush

    subscriptions = PushSubscription.objects.filter(user=user)
    if subscription_id is not None:
        deleted, _ = subscriptions.filter(pk=subscription_id).delete()
        if not deleted:
            raise PushSubscriptionNotFound()
        return True
    deleted, _ = subscriptions.filter(endpoint_hash=webpush.endpoint_hash(endpoint or "")).delete()
    return bool(deleted)


def record_push_results(results: list[tuple]) -> None:
    """Book the outcome of each push attempt on its subscription: (subscription_id, status, error).

    404/410 ("this subscription is gone") deletes the subscription; a 2xx
    counts as sent; anything else, or no answer, counts as failed and keeps it.
    """
    from django.db.models import F

    now = timezone.now()
    for subscription_id, status, error in results:
        if status in (404, 410):
            PushSubscription.objects.filter(pk=subscription_id).delete()
            logger.info("push subscription expired", extra={"subscription": str(subscription_id), "status": status})
            continue
        ok = status is not None and 200 <= status < 300
        PushSubscription.objects.filter(pk=subscription_id).update(
            sent_count=F("sent_count") + (1 if ok else 0),
            failed_count=F("failed_count") + (0 if ok else 1),
            last_status=status,
            last_error="" if ok else (error or "")[:300],
            last_attempt_at=now,
            **({"last_success_at": now} if ok else {}),
        )


def vapid_public_key() -> str:
    return settings.VAPID_PUBLIC_KEY
