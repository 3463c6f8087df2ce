"""Every write to live streams: going live, ending, joining, chat, moderation, tips, tickets.

How a stream lives
- ``go_live`` starts it (at most one per host: a unique partial index);
  ``end_stream`` ends it (the host, or a platform moderator); the sweeper's
  ``end_abandoned_streams`` ends it when the host has been gone
  ``LIVE_HOST_GONE_S``. Every end goes through ``_finish``: compare-and-swap
  on the status under the row lock, the summary written once, tickets
  refunded when it ended within ``LIVE_TICKET_REFUND_MINUTES`` of its start.
- Starting and ending drop every cache Explore reads live state through, so
  "Live now" and ``is_live`` follow at once.
- Money moves only through ``ledger.services`` with keys
  ``stream:<id>:tip:<tipper>:<client key>``, ``stream:<id>:ticket:<viewer>``
  and ``stream:<id>:ticket:<viewer>:refund``: a retry is a no-op that returns
  the first result. Goal progress and the summary's money are read back from
  the ledger (reference ``stream:<id>``).
- Chat rules (bans, timeouts, slow mode, follower-only) are rows in the
  database read on every message, so a moderator's action holds at once on
  every process. Every moderator action is audited in the same transaction.
- Room events go out after commit (``rooms.send_to_room_on_commit``).
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from digis.errors import InvalidInput
from digis.realtime import rooms
from digis.realtime.events import send_event_on_commit
from streaming import media, selectors
from streaming.exceptions import (
    AlreadyLive,
    BannedFromChannel,
    CannotAffordTicket,
    CannotAffordTip,
    CannotTipSelf,
    ChatRateLimited,
    FollowersOnly,
    FollowersOnlyChat,
    InvalidModeration,
    InvalidStream,
    InvalidTip,
    MessageNotFound,
    NotACreator,
    NotHost,
    NotHostOrModerator,
    SlowMode,
    StreamBlocked,
    StreamNotFound,
    StreamNotLive,
    TicketRequired,
    TimedOut,
    UserNotFound,
)
from streaming.locks import lock_stream, share_live_stream
from streaming.models import (
    FOLLOW_AGE_MAX_MINUTES,
    LIVE_Q,
    SLOW_MODE_MAX_S,
    SLOW_MODE_MIN_S,
    TIMEOUT_MAX_S,
    TIMEOUT_MIN_S,
    Audience,
    ChannelModerator,
    ChatMessage,
    ChatRestriction,
    EndReason,
    LiveStream,
    RestrictionKind,
    StreamStatus,
    StreamViewer,
    Ticket,
    Tip,
)

logger = logging.getLogger(__name__)

CLIENT_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
TITLE_MAX = 120
MESSAGE_MAX = 500
TIP_MESSAGE_MAX = 200


def _buy_url() -> str:
    return getattr(settings, "CALL_BUY_TOKENS_URL", "/wallet/buy/")


def _check_client_key(value, *, name="client_key") -> str:
    if not isinstance(value, str) or not CLIENT_KEY.fullmatch(value):
        raise InvalidInput(
            f"{name} must be 1-64 letters, digits or _.:- (the client's own id for this request).",
            fields={name: ["1-64 characters: letters, digits, _ . : -"]},
            code="invalid_client_key",
        )
    return value


def _clean_text(value, *, name: str, maximum: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.", fields={name: ["Must be text."]})
    # Control characters (other than newlines in a tip note) have no place in chat.
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value).strip()
    if required and not text:
        raise InvalidInput(f"{name} is required.", fields={name: ["This field is required."]}, code=f"invalid_{name}")
    if len(text) > maximum:
        raise InvalidInput(f"{name} is at most {maximum} characters.", fields={name: [f"At most {maximum} characters."]}, code=f"invalid_{name}")
    return text


def _live_state_changed(host_id) -> None:
    """Drop everything Explore and the home page read live state through, now and after commit."""
    from creators.services import invalidate_creator_cache

    invalidate_creator_cache(user_id=host_id)
    selectors.forget_live_host_ids()
    transaction.on_commit(selectors.forget_live_host_ids)


def _user_brief(user) -> dict:
    return {"id": str(user.pk), "username": user.username, "name": selectors.display_name(user)}


def _resolve_user(ref):
    """A user by id or username (for moderation targets); 404 user_not_found."""
    import uuid

    User = get_user_model()
    if isinstance(ref, User):
        return ref
    ref = str(ref or "").strip()
    if not ref or len(ref) > 150:
        raise UserNotFound()
    try:
        user = User.objects.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        user = User.objects.filter(username__iexact=ref).first()
    if user is None:
        raise UserNotFound()
    return user


def _audit(*, actor, action: str, target, reason: str, before: dict, after: dict) -> None:
    from accounts.services import record_audit

    record_audit(actor=actor, action=action, target=target, reason=reason, before=before, after=after)


# --- going live and ending -------------------------------------------------------------


def go_live(*, host, title, category: str = "", audience: str = Audience.EVERYONE, ticket_price=None) -> LiveStream:
    """Start a live stream hosted by ``host`` (a creator with a profile).

    Refuses with nothing written: 403 not_a_creator, 400 invalid_stream /
    unknown_category, 409 already_live (also when two clicks race: the unique
    partial index lets one win). Followers hear about it (notifications, after
    commit); Explore shows it at once.
    """
    from creators.selectors import cards_for, category_by_slug

    if getattr(host, "role", "") != "creator" or str(host.pk) not in cards_for([host.pk]):
        raise NotACreator()
    title = _clean_text(title, name="title", maximum=TITLE_MAX, required=True)
    category = (category or "").strip()
    if category:
        category_by_slug(category)  # 400 unknown_category
    if audience not in Audience.values:
        raise InvalidStream(fields={"audience": ['Must be "everyone", "followers" or "ticket".']})
    if audience == Audience.TICKET:
        if isinstance(ticket_price, bool) or not isinstance(ticket_price, int) or not 1 <= ticket_price <= settings.LIVE_TICKET_MAX:
            raise InvalidStream(
                f"A ticket costs 1 to {settings.LIVE_TICKET_MAX} tokens.",
                fields={"ticket_price": [f"A whole number of tokens, 1 to {settings.LIVE_TICKET_MAX}."]},
            )
        price = ticket_price
    else:
        if ticket_price not in (None, 0):
            raise InvalidStream("Only a ticketed stream has a ticket price.", fields={"ticket_price": ["Only with audience=ticket."]})
        price = 0
    now = timezone.now()
    with transaction.atomic(durable=True):
        current = selectors.current_stream_of(host)
        if current is not None:
            raise AlreadyLive(stream_id=str(current.pk))
        try:
            with transaction.atomic():
                stream = LiveStream.objects.create(
                    host=host, title=title, category=category, audience=audience, ticket_price=price,
                    media_provider=media.provider(), started_at=now, host_seen_at=now,
                )
        except IntegrityError:
            raise AlreadyLive()
        _live_state_changed(host.pk)
        _announce_live(stream, host)
    stream.host = host
    return stream


def _announce_live(stream: LiveStream, host) -> None:
    """Followers hear about it: notifications' batched fan-out, after commit, once per follower."""
    from notifications.models import NotificationKind
    from notifications.services import notify_followers

    notify_followers(
        creator=host, kind=NotificationKind.CREATOR_LIVE, text=f"{selectors.display_name(host)} is live: {stream.title}",
        dedupe_key=f"live:{stream.pk}", url=f"/live/{host.username}/", target=stream, data={"stream_id": str(stream.pk)},
    )


def end_streams_of_banned_host(*, host_id) -> list[str]:
    """A banned host's live stream ends at once (accounts' user_banned hook, after the ban commits)."""
    ended = []
    now = timezone.now()
    for stream_id in LiveStream.objects.filter(LIVE_Q, host_id=host_id).values_list("id", flat=True):
        with transaction.atomic(durable=True):
            stream = lock_stream(stream_id)
            if stream.status == StreamStatus.LIVE:
                _finish(stream, EndReason.MODERATED, ended_at=now)
                ended.append(str(stream_id))
    return ended


def end_stream(*, stream_id, actor, reason: str = "") -> LiveStream:
    """The host ends the stream (or a platform moderator, audited). Idempotent.

    403 not_the_host for anyone else (viewers, the host's chat moderators).
    """
    stream = selectors.stream_by_id(stream_id)
    by_host = actor.pk == stream.host_id
    if not by_host and not selectors.is_platform_moderator(actor):
        raise NotHost("Only the host can end this stream.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        stream = lock_stream(stream_id)
        if stream.status == StreamStatus.LIVE:
            before = {"status": stream.status}
            _finish(stream, EndReason.ENDED if by_host else EndReason.MODERATED, ended_at=now)
            if not by_host:
                _audit(actor=actor, action="live.end", target=stream, reason=reason or "Ended by a moderator.",
                       before=before, after={"status": stream.status, "end_reason": stream.end_reason})
    return stream


def end_abandoned_streams() -> list[str]:
    """End every live stream whose host has been gone ``LIVE_HOST_GONE_S`` (the sweeper runs this).

    The stream ends at the moment the rule fired (last seen + the limit), however
    late the sweeper looks, so duration and ticket refunds never depend on it.
    """
    gone = timedelta(seconds=settings.LIVE_HOST_GONE_S)
    now = timezone.now()
    ended = []
    for stream_id in LiveStream.objects.filter(LIVE_Q, host_seen_at__lte=now - gone).values_list("id", flat=True):
        try:
            with transaction.atomic(durable=True):
                stream = lock_stream(stream_id)
                if stream.status == StreamStatus.LIVE and stream.host_seen_at <= now - gone:
                    _finish(stream, EndReason.HOST_GONE, ended_at=min(now, stream.host_seen_at + gone))
                    ended.append(str(stream_id))
        except Exception:
            logger.exception("ending an abandoned stream failed", extra={"stream_id": str(stream_id)})
    return ended


def _finish(stream: LiveStream, reason: str, *, ended_at) -> None:
    """End a live stream (compare-and-swap under its row lock), write its summary, tell everyone."""
    ended_at = max(ended_at, stream.started_at)
    updated = LiveStream.objects.filter(pk=stream.pk, status=StreamStatus.LIVE).update(
        status=StreamStatus.ENDED, end_reason=reason, ended_at=ended_at
    )
    if updated != 1:
        raise RuntimeError(f"stream {stream.pk} was not live: changed outside its row lock")
    stream.status, stream.end_reason, stream.ended_at = StreamStatus.ENDED, reason, ended_at
    refund_window = timedelta(minutes=settings.LIVE_TICKET_REFUND_MINUTES)
    refund_due = stream.audience == Audience.TICKET and ended_at - stream.started_at < refund_window
    peak = max(stream.peak_viewers, rooms.presence_peak(stream.room))
    stream.peak_viewers = peak
    stream.tickets_refund_due = refund_due
    stream.summary = build_summary(stream)
    LiveStream.objects.filter(pk=stream.pk).update(peak_viewers=peak, tickets_refund_due=refund_due, summary=stream.summary)
    _live_state_changed(stream.host_id)
    rooms.send_to_room_on_commit(stream.room, {"type": "live.ended", "stream_id": str(stream.pk), "reason": reason,
                                               "tickets_refunded": refund_due})
    send_event_on_commit([stream.host_id], {"type": "live.summary", "stream_id": str(stream.pk), "summary": stream.summary})
    room, seats = stream.room, media.seats_room(stream)

    def forget_rooms():
        try:
            rooms.presence_clear(room)
            rooms.presence_clear(seats)
        except Exception:
            logger.exception("clearing a room failed", extra={"room": room})

    transaction.on_commit(forget_rooms)
    if refund_due:
        stream_id = str(stream.pk)

        def refund():
            from streaming.tasks import refund_stream_tickets

            refund_stream_tickets.delay(stream_id)

        transaction.on_commit(refund)


def build_summary(stream: LiveStream) -> dict:
    """What the creator sees after a stream: read from the ledger, the viewers and the follows."""
    from creators.models import Follow  # read only: who followed during the stream

    end = stream.ended_at or timezone.now()
    tickets = selectors.ticket_stats(stream)
    return {
        "duration_s": int((end - stream.started_at).total_seconds()),
        "started_at": stream.started_at.isoformat(),
        "ended_at": end.isoformat(),
        "end_reason": stream.end_reason,
        "peak_viewers": stream.peak_viewers,
        "unique_viewers": StreamViewer.objects.filter(stream=stream).count(),
        "chat_messages": ChatMessage.objects.filter(stream=stream).count(),
        "tips": selectors.tip_stats(stream),
        "tickets": {**tickets, "refund_due": stream.tickets_refund_due},
        "new_followers": Follow.objects.filter(creator_id=stream.host_id, created_at__gte=stream.started_at, created_at__lte=end).count(),
        "top_tippers": selectors.top_tippers(stream),
    }


# --- presence ------------------------------------------------------------------------------


def host_seen(*, stream_id, user) -> bool:
    """The host's page is still there (join, heartbeat, leave). False if not the host or not live."""
    now = timezone.now()
    return bool(
        LiveStream.objects.filter(pk=stream_id, host_id=user.pk, status=StreamStatus.LIVE, host_seen_at__lt=now).update(host_seen_at=now)
    )


def record_peak(stream: LiveStream, count: int) -> None:
    if count > stream.peak_viewers:
        LiveStream.objects.filter(pk=stream.pk, peak_viewers__lt=count).update(peak_viewers=count)
        stream.peak_viewers = count


# --- who may watch ----------------------------------------------------------------------------


def admit(stream: LiveStream, user, *, ticket_needed: bool = True, standing: selectors.Standing | None = None) -> str:
    """May ``user`` watch ``stream`` now? Returns "host", "moderator" or "viewer".

    Raises 409 stream_not_live, 403 blocked / banned_from_channel /
    followers_only, 402 ticket_required (a ticketed stream without a ticket,
    unless ``ticket_needed`` is False). The host's moderators watch for free.
    ``standing``: the user's, when the caller read it with the stream
    (selectors.stream_and_standing); otherwise it is read here, in one statement.
    """
    if stream.status != StreamStatus.LIVE:
        raise StreamNotLive()
    if getattr(stream.host, "is_banned", False) or not stream.host.is_active:
        raise StreamNotFound()
    if user.pk == stream.host_id:
        return "host"
    if standing is None:
        standing = selectors.standing_of(stream, user)
    if standing.blocked:
        raise StreamBlocked()
    if standing.banned:
        raise BannedFromChannel()
    if selectors.is_platform_moderator(user) or standing.channel_moderator:
        return "moderator"
    if stream.audience == Audience.FOLLOWERS and standing.follows_since is None:
        raise FollowersOnly()
    if stream.audience == Audience.TICKET and ticket_needed and not standing.has_ticket:
        raise TicketRequired(f"This stream needs a ticket ({stream.ticket_price} tokens).", price=stream.ticket_price)
    return "viewer"


def _follows_for(standing: selectors.Standing, *, minutes: int) -> bool:
    """Whether the standing's follow is at least ``minutes`` old (any follow when 0)."""
    if standing.follows_since is None:
        return False
    return not minutes or standing.follows_since <= timezone.now() - timedelta(minutes=minutes)


def join_stream(*, stream_id, user) -> tuple[LiveStream, dict, str]:
    """``user`` wants to watch (or the host to broadcast): media credentials, and the ticket.

    A ticketed stream charges its ticket here, once per viewer and stream
    (key ``stream:<id>:ticket:<viewer>``): joining again, from another tab or
    after a retry, never charges twice. A peer-to-peer seat is taken before
    the charge, so a full room charges nothing (409 room_full). 402
    insufficient_funds (with shortfall and buy_url) when the wallet is short.
    Returns (stream, credentials, role).
    """
    stream, standing = selectors.stream_and_standing(stream_id, user)
    role = admit(stream, user, ticket_needed=False, standing=standing)
    credentials = media.credentials(stream=stream, user=user, is_host=role == "host")
    try:
        if role == "viewer" and stream.audience == Audience.TICKET:
            _buy_ticket(stream, user)
        if role == "host":
            host_seen(stream_id=stream.pk, user=user)
        else:
            count_viewer(stream, user)
    except BaseException:
        if role != "host" and credentials.get("provider") == "webrtc":
            media.release_seat(stream, user.pk)
        raise
    return stream, credentials, role


def count_viewer(stream, user) -> None:
    try:
        with transaction.atomic():
            StreamViewer.objects.get_or_create(stream=stream, user=user, defaults={"joined_at": timezone.now()})
    except IntegrityError:
        pass  # a concurrent join counted them


def _buy_ticket(stream: LiveStream, user) -> Ticket:
    from ledger.exceptions import InsufficientFunds
    from ledger.models import TransactionKind
    from ledger.services import charge_with_fee

    existing = Ticket.objects.filter(stream=stream, viewer=user).first()
    if existing is not None:
        return existing
    key = f"stream:{stream.pk}:ticket:{user.pk}"
    with transaction.atomic(durable=True):
        if not share_live_stream(stream.pk):
            raise StreamNotLive()
        try:
            tx = charge_with_fee(
                payer=user, creator=stream.host, amount=stream.ticket_price, kind=TransactionKind.TICKET,
                idempotency_key=key, reference=stream.ledger_reference,
            )
        except InsufficientFunds as exc:
            raise CannotAffordTicket(
                f"A ticket costs {stream.ticket_price} tokens; you have {exc.balance if exc.balance is not None else 'fewer'}.",
                shortfall=exc.shortfall, price=stream.ticket_price, buy_url=_buy_url(),
            )
        try:
            with transaction.atomic():
                ticket = Ticket.objects.create(stream=stream, viewer=user, price=stream.ticket_price, transaction_id=tx.pk,
                                               created_at=timezone.now())
        except IntegrityError:  # a concurrent join of the same viewer won; the ledger replayed its charge
            ticket = Ticket.objects.get(stream=stream, viewer=user)
    return ticket


def refund_tickets(*, stream_id) -> int:
    """Refund every ticket of a stream that ended early; each in its own transaction. Idempotent.

    Returns how many were refunded now. Marks the stream done when none is left.
    """
    from ledger.services import refund_ticket

    stream = selectors.stream_by_id(stream_id)
    if not stream.tickets_refund_due:
        return 0
    refunded = 0
    for ticket_id in Ticket.objects.filter(stream=stream, refunded_at__isnull=True).values_list("id", flat=True):
        with transaction.atomic(durable=True):
            ticket = Ticket.objects.select_for_update(of=("self",), no_key=True).select_related("transaction").get(pk=ticket_id)
            if ticket.refunded_at is not None:
                continue
            tx = refund_ticket(
                original=ticket.transaction, idempotency_key=f"stream:{stream.pk}:ticket:{ticket.viewer_id}:refund",
                reason="The stream ended within a few minutes of its start.",
            )
            Ticket.objects.filter(pk=ticket.pk, refunded_at__isnull=True).update(refunded_at=timezone.now(), refund_transaction_id=tx.pk)
            send_event_on_commit([ticket.viewer_id], {"type": "live.ticket_refunded", "stream_id": str(stream.pk), "tokens": ticket.price})
            refunded += 1
    if not Ticket.objects.filter(stream=stream, refunded_at__isnull=True).exists():
        LiveStream.objects.filter(pk=stream.pk, tickets_refunded_at__isnull=True).update(tickets_refunded_at=timezone.now())
    return refunded


# --- chat ----------------------------------------------------------------------------------------


def _check_chat_rate(stream, user) -> None:
    limit, window = settings.LIVE_CHAT_RATE
    key = f"live:chat-rate:{stream.pk}:{user.pk}"
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # the window expired between add and incr
        cache.set(key, 1, window)
        count = 1
    if count > limit:
        raise ChatRateLimited(f"You can send {limit} messages every {window} seconds.", retry_after_s=window)


def _check_slow_mode(stream, user) -> None:
    if not stream.slow_mode_s:
        return
    # The setting is part of the key: changing slow mode starts fresh windows.
    key = f"live:slow:{stream.pk}:{stream.slow_mode_s}:{user.pk}"
    if not cache.add(key, 1, stream.slow_mode_s):
        raise SlowMode(f"Slow mode: one message every {stream.slow_mode_s} seconds.", retry_after_s=stream.slow_mode_s)


def chat_standing(stream: LiveStream, user, *, standing: selectors.Standing | None = None) -> dict:
    """What stops ``user`` from chatting right now, for the page (None values: nothing).

    ``standing``: the user's, when the caller has just read it (``selectors.standing_of``).
    """
    standing = standing or selectors.standing_of(stream, user)
    return {
        "timed_out_until": standing.timeout_until.isoformat() if standing.timeout_until and not standing.banned else None,
        "banned": standing.banned,
    }


def send_chat(*, stream_id, user, text, client_key) -> tuple[dict, bool]:
    """Post a chat message; everyone in the room gets it. Returns (message, created).

    Idempotent per (stream, author, client_key): a resent message is stored
    and shown once. Refusals, each with its code: 409 stream_not_live, 403
    blocked / banned_from_channel / followers_only / ticket_required (who may
    watch), 403 timed_out (with ``until``), 403 followers_only_chat (with
    ``min_minutes``), 429 slow_mode and chat_rate_limited (with
    ``retry_after_s``). The host and moderators skip slow mode, follower-only
    chat and the rate limit. Every rule is read from the database (and the
    shared cache) on every message: a moderator's change holds at once on
    every web process.
    """
    text = _clean_text(text, name="text", maximum=MESSAGE_MAX, required=True)
    client_key = _check_client_key(client_key)
    # The stream, then one statement for every rule about this user and whether this key was used already.
    stream, standing = selectors.stream_and_standing(stream_id, user, client_key=client_key)
    if standing.chat_key_used:
        return _sent_message(stream, user, client_key), False
    role = admit(stream, user, standing=standing)
    if role == "viewer":
        if standing.timeout_until is not None:
            left = max(1, int((standing.timeout_until - timezone.now()).total_seconds()))
            raise TimedOut(f"You are timed out for {left} more seconds.", until=standing.timeout_until.isoformat(), retry_after_s=left)
        if stream.followers_only and not _follows_for(standing, minutes=stream.followers_min_minutes):
            after = f" for {stream.followers_min_minutes} minutes" if stream.followers_min_minutes else ""
            raise FollowersOnlyChat(f"Follower-only chat: follow{after} to chat.", min_minutes=stream.followers_min_minutes)
        _check_chat_rate(stream, user)
        _check_slow_mode(stream, user)
    try:
        # No savepoint: a duplicate key (the same message sent twice at once) rolls the whole
        # transaction back, which holds nothing else, and the room hears nothing (on_commit).
        with transaction.atomic(durable=True):
            message = ChatMessage.objects.create(stream=stream, author=user, text=text, client_key=client_key, created_at=timezone.now())
            payload = selectors.message_payload(message, author=user)
            if role != "viewer":
                payload["author"]["role"] = role
            rooms.send_to_room_on_commit(stream.room, {"type": "live.chat", "stream_id": str(stream.pk), "message": payload})
    except IntegrityError:
        return _sent_message(stream, user, client_key), False
    return payload, True


def _sent_message(stream, user, client_key) -> dict:
    return selectors.message_payload(ChatMessage.objects.get(stream=stream, author=user, client_key=client_key), author=user)


# --- moderation ------------------------------------------------------------------------------------


def moderated_stream(stream_id, actor) -> LiveStream:
    """The stream, if ``actor`` may moderate it (403 not_a_moderator otherwise)."""
    stream = selectors.stream_by_id(stream_id)
    if not selectors.can_moderate(stream, actor):
        raise NotHostOrModerator()
    return stream


def _check_target(stream, actor, target) -> None:
    if target.pk == stream.host_id:
        raise InvalidModeration("The host cannot be moderated in their own chat.", code="cannot_moderate_host")
    if target.pk == actor.pk:
        raise InvalidModeration("You cannot moderate yourself.", code="cannot_moderate_self")
    actor_is_senior = actor.pk == stream.host_id or selectors.is_platform_moderator(actor)
    if not actor_is_senior and (selectors.can_moderate(stream, target)):
        raise NotHostOrModerator("Only the host can moderate another moderator.", code="cannot_moderate_moderator")


def delete_message(*, stream_id, message_id, actor, reason: str = "") -> None:
    """The host or a moderator removes a chat message for everyone. Idempotent, audited."""
    stream = moderated_stream(stream_id, actor)
    if not isinstance(message_id, int) or not 0 < message_id < 2**63:
        raise MessageNotFound()
    message = ChatMessage.objects.filter(pk=message_id, stream=stream).select_related("author").first()
    if message is None:
        raise MessageNotFound()
    now = timezone.now()
    with transaction.atomic(durable=True):
        if not ChatMessage.objects.filter(pk=message.pk, deleted_at__isnull=True).update(deleted_at=now, deleted_by=actor):
            return
        _audit(actor=actor, action="live.chat.delete", target=message, reason=reason or "Deleted a chat message.",
               before={"text": message.text, "author": str(message.author_id)}, after={"deleted_at": now.isoformat()})
        rooms.send_to_room_on_commit(stream.room, {"type": "live.chat_deleted", "stream_id": str(stream.pk), "message_ids": [message.pk]})


def update_chat_settings(*, stream_id, actor, slow_mode_s=None, followers_only=None, followers_min_minutes=None, reason: str = "") -> LiveStream:
    """Slow mode (0 = off, or 3-120 s) and follower-only chat (with a minimum follow age, 0 min - 3 months).

    Only what is given changes. Audited; everyone in the room hears the new settings.
    """
    stream = moderated_stream(stream_id, actor)
    changes = {}
    if slow_mode_s is not None:
        if isinstance(slow_mode_s, bool) or not isinstance(slow_mode_s, int) or not (
            slow_mode_s == 0 or SLOW_MODE_MIN_S <= slow_mode_s <= SLOW_MODE_MAX_S
        ):
            raise InvalidModeration(f"Slow mode is 0 (off) or {SLOW_MODE_MIN_S} to {SLOW_MODE_MAX_S} seconds.",
                                    fields={"slow_mode_s": [f"0, or {SLOW_MODE_MIN_S}-{SLOW_MODE_MAX_S}."]})
        changes["slow_mode_s"] = slow_mode_s
    if followers_only is not None:
        if not isinstance(followers_only, bool):
            raise InvalidModeration(fields={"followers_only": ["true or false."]})
        changes["followers_only"] = followers_only
    if followers_min_minutes is not None:
        if isinstance(followers_min_minutes, bool) or not isinstance(followers_min_minutes, int) or not 0 <= followers_min_minutes <= FOLLOW_AGE_MAX_MINUTES:
            raise InvalidModeration(f"The minimum follow age is 0 to {FOLLOW_AGE_MAX_MINUTES} minutes (three months).",
                                    fields={"followers_min_minutes": [f"0-{FOLLOW_AGE_MAX_MINUTES}."]})
        changes["followers_min_minutes"] = followers_min_minutes
    if not changes:
        raise InvalidModeration("Nothing to change.", fields={"slow_mode_s": ["Give at least one setting."]})
    with transaction.atomic(durable=True):
        stream = lock_stream(stream.pk)
        if stream.status != StreamStatus.LIVE:
            raise StreamNotLive()
        before = {name: getattr(stream, name) for name in changes}
        LiveStream.objects.filter(pk=stream.pk).update(**changes)
        for name, value in changes.items():
            setattr(stream, name, value)
        _audit(actor=actor, action="live.chat.settings", target=stream, reason=reason or "Changed the chat settings.",
               before=before, after=changes)
        rooms.send_to_room_on_commit(stream.room, {"type": "live.settings", "stream_id": str(stream.pk), "chat": chat_settings(stream)})
    return stream


def chat_settings(stream: LiveStream) -> dict:
    return {"slow_mode_s": stream.slow_mode_s, "followers_only": stream.followers_only, "followers_min_minutes": stream.followers_min_minutes}


def _purge_chat_of(stream, user, actor, now) -> list[int]:
    ids = list(ChatMessage.objects.filter(stream=stream, author=user, deleted_at__isnull=True).values_list("id", flat=True))
    if ids:
        ChatMessage.objects.filter(pk__in=ids).update(deleted_at=now, deleted_by=actor)
    return ids


def timeout_user(*, stream_id, actor, user, seconds, reason: str = "") -> ChatRestriction:
    """Keep ``user`` out of the host's chat for ``seconds`` (1 s to 2 weeks); replaces a shorter or longer one.

    Their messages in this stream disappear for everyone. Audited. They can
    still watch.
    """
    stream = moderated_stream(stream_id, actor)
    target = _resolve_user(user)
    _check_target(stream, actor, target)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not TIMEOUT_MIN_S <= seconds <= TIMEOUT_MAX_S:
        raise InvalidModeration(f"A timeout lasts {TIMEOUT_MIN_S} second to {TIMEOUT_MAX_S} seconds (two weeks).",
                                fields={"seconds": [f"{TIMEOUT_MIN_S}-{TIMEOUT_MAX_S}."]})
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    with transaction.atomic(durable=True):
        previous = selectors.standing_restriction(host_id=stream.host_id, user_id=target.pk, now=now)
        ChatRestriction.objects.filter(
            host_id=stream.host_id, user=target, kind=RestrictionKind.TIMEOUT, lifted_at__isnull=True, until__gt=now
        ).update(lifted_at=now, lifted_by=actor)
        row = ChatRestriction.objects.create(
            host_id=stream.host_id, user=target, kind=RestrictionKind.TIMEOUT, until=until, reason=(reason or "")[:500],
            created_by=actor, created_at=now, stream=stream,
        )
        purged = _purge_chat_of(stream, target, actor, now)
        _audit(actor=actor, action="live.timeout", target=row, reason=reason or f"Timed out for {seconds} s.",
               before={"restriction": previous.kind if previous else None,
                       "until": previous.until.isoformat() if previous and previous.until else None},
               after={"until": until.isoformat(), "user": str(target.pk), "messages_removed": len(purged)})
        _announce_moderation(stream, target, "timeout", purged, until=until)
    return row


def ban_user(*, stream_id, actor, user, reason: str = "") -> ChatRestriction:
    """Ban ``user`` from all of the host's streams: out of the room at once, on every process. Idempotent, audited."""
    stream = moderated_stream(stream_id, actor)
    target = _resolve_user(user)
    _check_target(stream, actor, target)
    now = timezone.now()
    with transaction.atomic(durable=True):
        existing = ChatRestriction.objects.filter(host_id=stream.host_id, user=target, kind=RestrictionKind.BAN, lifted_at__isnull=True).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                row = ChatRestriction.objects.create(
                    host_id=stream.host_id, user=target, kind=RestrictionKind.BAN, reason=(reason or "")[:500],
                    created_by=actor, created_at=now, stream=stream,
                )
        except IntegrityError:  # banned by another moderator at the same moment
            return ChatRestriction.objects.get(host_id=stream.host_id, user=target, kind=RestrictionKind.BAN, lifted_at__isnull=True)
        purged = _purge_chat_of(stream, target, actor, now)
        _audit(actor=actor, action="live.ban", target=row, reason=reason or "Banned from the host's streams.",
               before={"banned": False}, after={"banned": True, "user": str(target.pk), "messages_removed": len(purged)})
        _announce_moderation(stream, target, "ban", purged)
        room, seats, target_id = stream.room, media.seats_room(stream), target.pk
        rooms.remove_user_on_commit(room, target_id, {"type": "live.banned", "stream_id": str(stream.pk),
                                                      "message": "You are banned from this creator's streams."})

        def forget_presence():
            rooms.presence_release(room, target_id)
            rooms.presence_release(seats, target_id)

        transaction.on_commit(forget_presence)
    return row


def lift_restriction(*, stream_id, actor, user, kind: str, reason: str = "") -> bool:
    """Unban, or end a timeout early. Idempotent (False when there was none), audited."""
    stream = moderated_stream(stream_id, actor)
    target = _resolve_user(user)
    if kind not in RestrictionKind.values:
        raise InvalidModeration(fields={"kind": ['"ban" or "timeout".']})
    now = timezone.now()
    with transaction.atomic(durable=True):
        open_rows = ChatRestriction.objects.filter(host_id=stream.host_id, user=target, kind=kind, lifted_at__isnull=True)
        if kind == RestrictionKind.TIMEOUT:
            open_rows = open_rows.filter(until__gt=now)
        rows = list(open_rows)
        if not rows:
            return False
        ChatRestriction.objects.filter(pk__in=[r.pk for r in rows]).update(lifted_at=now, lifted_by=actor)
        _audit(actor=actor, action=f"live.{kind}.lift", target=rows[0], reason=reason or f"Lifted a {kind}.",
               before={"kind": kind, "until": rows[0].until.isoformat() if rows[0].until else None}, after={"lifted_at": now.isoformat()})
        send_event_on_commit([target.pk], {"type": "live.restriction_lifted", "stream_id": str(stream.pk), "kind": kind})
    return True


def _announce_moderation(stream, target, action, purged, until=None) -> None:
    rooms.send_to_room_on_commit(stream.room, {
        "type": "live.moderation", "stream_id": str(stream.pk), "action": action, "user_id": str(target.pk),
        "until": until.isoformat() if until else None, "message_ids": purged,
    })
    send_event_on_commit([target.pk], {
        "type": "live.restricted", "stream_id": str(stream.pk), "kind": action, "until": until.isoformat() if until else None,
    })


def add_moderator(*, host, user, reason: str = "") -> ChannelModerator:
    """The host makes ``user`` a moderator of their streams' chat. Idempotent, audited."""
    target = _resolve_user(user)
    if target.pk == host.pk:
        raise InvalidModeration("You already moderate your own chat.", code="cannot_moderate_self")
    with transaction.atomic(durable=True):
        row, created = ChannelModerator.objects.get_or_create(host=host, user=target)
        if created:
            _audit(actor=host, action="live.moderator.add", target=row, reason=reason or "Made a chat moderator.",
                   before={"moderator": False}, after={"moderator": True, "user": str(target.pk)})
    return row


def remove_moderator(*, host, user, reason: str = "") -> bool:
    target = _resolve_user(user)
    with transaction.atomic(durable=True):
        row = ChannelModerator.objects.filter(host=host, user=target).first()
        if row is None:
            return False
        _audit(actor=host, action="live.moderator.remove", target=row, reason=reason or "Removed a chat moderator.",
               before={"moderator": True, "user": str(target.pk)}, after={"moderator": False})
        row.delete()
    return True


# --- tips and the goal ---------------------------------------------------------------------------------


def send_tip(*, stream_id, tipper, amount, message: str = "", client_key) -> tuple[Tip, bool]:
    """``tipper`` sends ``amount`` tokens to the host, with an optional message. Returns (tip, created).

    Charged once per (stream, tipper, client_key) (ledger key
    ``stream:<id>:tip:<tipper>:<client_key>``): a retry returns the first tip
    and charges nothing, even after the stream ended; the same key with
    another amount is 409 idempotency_conflict. Everyone in the room sees the
    alert and the goal's progress (read back from the ledger); the host gets
    a TIP_RECEIVED notification. 402 insufficient_funds with shortfall and
    buy_url; 400 cannot_tip_self / invalid_tip; 409 stream_not_live.
    """
    from ledger.exceptions import InsufficientFunds
    from ledger.models import TransactionKind
    from ledger.services import charge_with_fee

    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= settings.LIVE_TIP_MAX:
        raise InvalidTip(f"A tip is 1 to {settings.LIVE_TIP_MAX} tokens.", fields={"amount": [f"1-{settings.LIVE_TIP_MAX} tokens."]})
    message = _clean_text(message, name="message", maximum=TIP_MESSAGE_MAX, required=False)
    client_key = _check_client_key(client_key)
    # The stream, then one statement for the tipper's standing and whether this key was used already.
    stream, standing = selectors.stream_and_standing(stream_id, tipper, client_key=client_key)
    if tipper.pk == stream.host_id:
        raise CannotTipSelf()
    if standing.tip_key_used:
        return _sent_tip(stream, tipper, client_key, amount), False
    admit(stream, tipper, standing=standing)
    key = f"stream:{stream.pk}:tip:{tipper.pk}:{client_key}"
    try:
        # No savepoint around the tip's row: the same tip sent twice at once fails its unique key
        # after the ledger replayed the first charge, and rolling everything back loses nothing.
        with transaction.atomic(durable=True):
            if not share_live_stream(stream.pk):
                raise StreamNotLive()
            try:
                tx = charge_with_fee(payer=tipper, creator=stream.host, amount=amount, kind=TransactionKind.TIP,
                                     idempotency_key=key, reference=stream.ledger_reference)
            except InsufficientFunds as exc:
                raise CannotAffordTip(f"This tip needs {amount} tokens.", shortfall=exc.shortfall, buy_url=_buy_url())
            tip = Tip.objects.create(stream=stream, tipper=tipper, amount=amount, message=message, client_key=client_key,
                                     transaction_id=tx.pk, created_at=timezone.now())
            _announce_tip(stream, tip, tipper, key)
    except IntegrityError:
        return _sent_tip(stream, tipper, client_key, amount), False
    return tip, True


def _sent_tip(stream, tipper, client_key, amount) -> Tip:
    from ledger.exceptions import IdempotencyConflict

    existing = Tip.objects.get(stream=stream, tipper=tipper, client_key=client_key)
    if existing.amount != amount:
        raise IdempotencyConflict(f"This tip was already sent with {existing.amount} tokens.")
    return existing


def tip_payload(tip: Tip, tipper=None) -> dict:
    tipper = tipper or tip.tipper
    return {"id": tip.pk, "tipper": _user_brief(tipper), "amount": tip.amount, "message": tip.message,
            "created_at": tip.created_at.isoformat()}


def _announce_tip(stream: LiveStream, tip: Tip, tipper, key: str) -> None:
    from notifications.models import NotificationKind
    from notifications.services import notify

    goal = selectors.goal_progress(stream)
    rooms.send_to_room_on_commit(stream.room, {"type": "live.tip", "stream_id": str(stream.pk), "tip": tip_payload(tip, tipper), "goal": goal})
    notify(
        recipient=stream.host, kind=NotificationKind.TIP_RECEIVED, actor=tipper, target=tip,
        text=f"{selectors.display_name(tipper)} tipped you {tip.amount} tokens" + (f": {tip.message}" if tip.message else "."),
        url=f"/live/{stream.host.username}/", data={"stream_id": str(stream.pk), "amount": tip.amount}, dedupe_key=key,
        key_is_new=True,  # the tip's own ledger key, and the tip row was inserted in this transaction
    )


def set_goal(*, stream_id, actor, title: str = "", target: int) -> LiveStream:
    """The host sets (or with target 0 clears) the tip goal; progress counts tips from now on."""
    stream = selectors.stream_by_id(stream_id)
    if actor.pk != stream.host_id:
        raise NotHost("Only the host can set the goal.")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= 100_000_000:
        raise InvalidStream("The goal is a whole number of tokens (0 removes it).", fields={"target": ["0-100000000 tokens."]})
    title = _clean_text(title, name="title", maximum=80, required=bool(target))
    now = timezone.now()
    with transaction.atomic(durable=True):
        stream = lock_stream(stream.pk)
        if stream.status != StreamStatus.LIVE:
            raise StreamNotLive()
        LiveStream.objects.filter(pk=stream.pk).update(goal_title=title if target else "", goal_target=target, goal_set_at=now if target else None)
        stream.goal_title, stream.goal_target, stream.goal_set_at = (title if target else ""), target, (now if target else None)
        rooms.send_to_room_on_commit(stream.room, {"type": "live.goal", "stream_id": str(stream.pk), "goal": selectors.goal_progress(stream)})
    return stream


# --- the sweeper's per-room work -------------------------------------------------------------------------


def sweep_rooms() -> dict:
    """Forget viewers whose sockets went silent, push each live room's count, keep its peak."""
    swept = {}
    for stream in LiveStream.objects.filter(LIVE_Q):
        try:
            removed, _ = rooms.presence_sweep(stream.room, ttl=settings.LIVE_PRESENCE_TTL_S)
            rooms.presence_sweep(media.seats_room(stream), ttl=settings.LIVE_PRESENCE_TTL_S)
            count = rooms.presence_count(stream.room, ttl=settings.LIVE_PRESENCE_TTL_S)
            record_peak(stream, max(count, rooms.presence_peak(stream.room)))
            rooms.send_to_room_on_commit(stream.room, {"type": "live.viewers", "stream_id": str(stream.pk), "count": count})
            swept[str(stream.pk)] = removed
        except Exception:
            logger.exception("sweeping a room failed", extra={"stream_id": str(stream.pk)})
    return swept
