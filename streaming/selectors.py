"""Reads shared by the live pages, the API, Explore and the sweeper.

Money figures (tips, goal progress, tickets) are summed from the ledger's
entries under the stream's reference, never kept as counters here.
"""

from collections.abc import Iterable
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from digis.db import db_param
from digis.realtime import rooms
from streaming.exceptions import StreamNotFound
from streaming.models import LIVE_Q, ChannelModerator, ChatMessage, ChatRestriction, LiveStream, RestrictionKind, StreamStatus, Ticket, Tip

# Every live host, shared by all processes; dropped (after commit) by every
# service that starts or ends a stream, so Explore's "Live now" follows at once.
LIVE_IDS_CACHE_KEY = "streaming:live_host_ids:v1"
LIVE_IDS_CACHE_S = 300


def _all_live_host_ids() -> frozenset:
    found = cache.get(LIVE_IDS_CACHE_KEY)
    if found is None:
        found = frozenset(str(pk) for pk in LiveStream.objects.filter(LIVE_Q).values_list("host_id", flat=True))
        cache.set(LIVE_IDS_CACHE_KEY, found, LIVE_IDS_CACHE_S)
    return found


def live_user_ids(user_ids: Iterable | None = None) -> set[str]:
    """Hosts live right now (all of them, or the subset of ``user_ids``), as strings.

    Explore and the home page call it through creators.selectors.live_user_ids
    on every request: one cache read.
    """
    live = _all_live_host_ids()
    if user_ids is None:
        return set(live)
    return {str(user_id) for user_id in user_ids if str(user_id) in live}


# Live streams right now, over the live partial index (streaming_live_idx): the
# console's "right now" embeds it (analytics.selectors.right_now).
LIVE_STREAMS_SQL = f"SELECT COUNT(*) FROM {LiveStream._meta.db_table} WHERE status = '{StreamStatus.LIVE.value}'"


def forget_live_host_ids() -> None:
    cache.delete(LIVE_IDS_CACHE_KEY)


def live_streams():
    """Live streams, newest first, with their hosts (banned hosts' streams are not listed)."""
    now = timezone.now()
    return (
        LiveStream.objects.filter(LIVE_Q)
        .filter(Q(host__banned_at__isnull=True) | Q(host__banned_until__lte=now), host__is_active=True)
        .select_related("host")
        .order_by("-started_at", "-id")
    )


def stream_by_id(stream_id) -> LiveStream:
    stream = LiveStream.objects.select_related("host").filter(pk=stream_id).first()
    if stream is None:
        raise StreamNotFound()
    return stream


class Standing(NamedTuple):
    """Where one user stands with a stream's host right now: everything admission and chat ask."""

    blocked: bool  # either of the two blocked the other
    banned: bool  # banned from the host's streams (not lifted)
    channel_moderator: bool
    follows_since: datetime | None
    timeout_until: datetime | None  # the latest timeout still running
    has_ticket: bool  # for this stream
    chat_key_used: bool = False  # a chat message of theirs in this stream has the client key asked about
    tip_key_used: bool = False  # ... a tip


NO_STANDING = Standing(False, False, False, None, None, False)


_STANDING_SQL = None


def _standing_sql() -> str:
    """One SELECT answering every rule for (stream, host, user): written once, by hand.

    The hot paths run it on every chat message, tip and join; built by the ORM
    (seven subqueries) it cost ~8 ms of CPU to compile on this project's
    2-core machine, the statement itself well under one.
    """
    global _STANDING_SQL
    if _STANDING_SQL is None:
        from accounts.models import Block
        from creators.models import Follow

        def table(model):
            return model._meta.db_table

        _STANDING_SQL = (
            "SELECT"
            f" EXISTS(SELECT 1 FROM {table(Block)} WHERE (blocker_id = %(user)s AND blocked_id = %(host)s)"
            f"   OR (blocker_id = %(host)s AND blocked_id = %(user)s)),"
            f" EXISTS(SELECT 1 FROM {table(ChatRestriction)} WHERE host_id = %(host)s AND user_id = %(user)s"
            f"   AND kind = %(ban)s AND lifted_at IS NULL),"
            f" EXISTS(SELECT 1 FROM {table(ChannelModerator)} WHERE host_id = %(host)s AND user_id = %(user)s),"
            f" (SELECT created_at FROM {table(Follow)} WHERE follower_id = %(user)s AND creator_id = %(host)s),"
            f" (SELECT MAX(until) FROM {table(ChatRestriction)} WHERE host_id = %(host)s AND user_id = %(user)s"
            f"   AND kind = %(timeout)s AND lifted_at IS NULL AND until > %(now)s),"
            f" EXISTS(SELECT 1 FROM {table(Ticket)} WHERE stream_id = %(stream)s AND viewer_id = %(user)s),"
            f" EXISTS(SELECT 1 FROM {table(ChatMessage)} WHERE stream_id = %(stream)s AND author_id = %(user)s AND client_key = %(key)s),"
            f" EXISTS(SELECT 1 FROM {table(Tip)} WHERE stream_id = %(stream)s AND tipper_id = %(user)s AND client_key = %(key)s)"
        )
    return _STANDING_SQL


def _as_datetime(value):
    """A timestamp as the cursor gave it (SQLite: text), aware."""
    if value is None or isinstance(value, datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, dt_timezone.utc)
    parsed = parse_datetime(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt_timezone.utc)


def standing_of(stream: LiveStream, user, *, client_key: str = "") -> Standing:
    """``user``'s standing with ``stream``'s host and ``stream``, as of now, in one statement.

    Read on every chat message, tip and join, never cached: a ban, a timeout or
    a block holds at once on every process. ``client_key``: also whether the
    user's chat message or tip in this stream already has that key (a resend).
    """
    if user is None or user.pk is None:
        return NO_STANDING
    params = {
        "stream": db_param(LiveStream, "id", stream.pk),
        "host": db_param(LiveStream, "host", stream.host_id),
        "user": db_param(ChatRestriction, "user", user.pk),
        "ban": RestrictionKind.BAN.value, "timeout": RestrictionKind.TIMEOUT.value,
        "now": db_param(ChatRestriction, "until", timezone.now()),
        "key": client_key,
    }
    with connection.cursor() as cursor:
        cursor.execute(_standing_sql(), params)
        blocked, banned, moderator, follows_since, timeout_until, ticket, chat_key, tip_key = cursor.fetchone()
    return Standing(bool(blocked), bool(banned), bool(moderator), _as_datetime(follows_since), _as_datetime(timeout_until),
                    bool(ticket), bool(chat_key), bool(tip_key))


def stream_and_standing(stream_id, user, *, client_key: str = "") -> tuple[LiveStream, Standing]:
    """The stream (with its host) and ``user``'s standing with it (``standing_of``)."""
    stream = stream_by_id(stream_id)
    return stream, standing_of(stream, user, client_key=client_key)


def current_stream_of(host) -> LiveStream | None:
    return LiveStream.objects.filter(LIVE_Q, host=host).select_related("host").first()


def latest_stream_of(host) -> LiveStream | None:
    """The host's live stream, or else their most recent one."""
    return LiveStream.objects.filter(host=host).select_related("host").order_by("-started_at", "-id").first()


def past_streams_of(host, limit: int = 20):
    return LiveStream.objects.filter(host=host, status=StreamStatus.ENDED).order_by("-started_at", "-id")[:limit]


# --- who may do what ---------------------------------------------------------------------


def is_platform_moderator(user) -> bool:
    return bool(
        user and user.is_authenticated
        and (user.is_superuser or user.is_staff or getattr(user, "role", "") in ("moderator", "admin"))
    )


def is_channel_moderator(*, host_id, user) -> bool:
    return ChannelModerator.objects.filter(host_id=host_id, user_id=user.pk).exists()


def can_moderate(stream: LiveStream, user) -> bool:
    """The host, the host's chat moderators and the platform's moderators."""
    if user is None or not user.is_authenticated:
        return False
    return user.pk == stream.host_id or is_platform_moderator(user) or is_channel_moderator(host_id=stream.host_id, user=user)


def moderators_of(host):
    return ChannelModerator.objects.filter(host=host).select_related("user").order_by("created_at")


def standing_restriction(*, host_id, user_id, now=None) -> ChatRestriction | None:
    """The ban, or else the longest timeout, ``user_id`` is under from ``host_id`` right now."""
    now = now or timezone.now()
    rows = ChatRestriction.objects.filter(host_id=host_id, user_id=user_id, lifted_at__isnull=True).filter(
        Q(kind=RestrictionKind.BAN) | Q(until__gt=now)
    )
    found = None
    for row in rows:
        if row.kind == RestrictionKind.BAN:
            return row
        if found is None or row.until > found.until:
            found = row
    return found


def restrictions_of(host):
    """The host's bans and timeouts still in force."""
    now = timezone.now()
    return (
        ChatRestriction.objects.filter(host=host, lifted_at__isnull=True)
        .filter(Q(kind=RestrictionKind.BAN) | Q(until__gt=now))
        .select_related("user")
        .order_by("-created_at")
    )


# --- chat --------------------------------------------------------------------------------


def message_payload(message: ChatMessage, author=None) -> dict:
    author = author or message.author
    return {
        "id": message.pk,
        "author": {"id": str(author.pk), "username": author.username, "name": _name(author)},
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def recent_chat(stream: LiveStream, limit: int | None = None) -> list[dict]:
    """The last messages still standing, oldest first (what a viewer sees on joining)."""
    limit = limit or settings.LIVE_CHAT_HISTORY
    rows = list(
        ChatMessage.objects.filter(stream=stream, deleted_at__isnull=True).select_related("author").order_by("-id")[:limit]
    )
    return [message_payload(row) for row in reversed(rows)]


def _name(user) -> str:
    return getattr(user, "display_name", "") or user.get_full_name() or user.username


def display_name(user) -> str:
    return _name(user)


# --- money, from the ledger ---------------------------------------------------------------


def _wallet_entries(stream: LiveStream, kinds):
    """Wallet entries of the stream's ledger transactions of ``kinds``, with their refunds and reversals."""
    from ledger.models import AccountKind, Entry

    entries = Entry.objects.filter(transaction__reference=stream.ledger_reference, account__kind=AccountKind.WALLET)
    return entries.filter(Q(transaction__kind__in=kinds) | Q(transaction__original__kind__in=kinds) | Q(transaction__reversal_of__kind__in=kinds))


def tips_total(stream: LiveStream, *, since=None) -> int:
    """Tokens tipped in this stream (tips sent since ``since``), net of any refund or reversal of a tip.

    The amounts are the ledger's. ``since`` picks tips by the time the Tip row
    records (this app's clock, the same one that set the goal), not by the
    ledger row's database timestamp.
    """
    from ledger.models import TransactionKind

    entries = _wallet_entries(stream, [TransactionKind.TIP])
    if since is not None:
        picked = Tip.objects.filter(stream=stream, created_at__gte=since).values("transaction_id")
        entries = entries.filter(
            Q(transaction_id__in=picked) | Q(transaction__original_id__in=picked) | Q(transaction__reversal_of_id__in=picked)
        )
    total = entries.aggregate(t=Sum("amount"))["t"] or 0
    return int(-total)


def goal_progress(stream: LiveStream) -> dict | None:
    if not stream.goal_target:
        return None
    raised = tips_total(stream, since=stream.goal_set_at)
    return {
        "title": stream.goal_title,
        "target": stream.goal_target,
        "raised": raised,
        "percent": min(100, raised * 100 // stream.goal_target),
        "reached": raised >= stream.goal_target,
    }


def tip_stats(stream: LiveStream) -> dict:
    from ledger.models import TransactionKind

    tips = _wallet_entries(stream, [TransactionKind.TIP]).filter(transaction__kind=TransactionKind.TIP)
    row = tips.aggregate(n=Count("id"), t=Sum("amount"))
    return {"count": int(row["n"] or 0), "tokens": tips_total(stream)}


def top_tippers(stream: LiveStream, limit: int = 5) -> list[dict]:
    from accounts.models import User
    from ledger.models import TransactionKind

    rows = (
        _wallet_entries(stream, [TransactionKind.TIP]).values("account__user_id").annotate(t=Sum("amount"))
        .filter(t__lt=0).order_by("t", "account__user_id")[:limit]
    )
    users = {u.pk: u for u in User.objects.filter(pk__in=[r["account__user_id"] for r in rows])}
    result = []
    for row in rows:
        user = users.get(row["account__user_id"])
        if user is not None:
            result.append({"id": str(user.pk), "username": user.username, "name": _name(user), "tokens": int(-row["t"])})
    return result


def ticket_stats(stream: LiveStream) -> dict:
    from ledger.models import TransactionKind

    sold = _wallet_entries(stream, [TransactionKind.TICKET]).filter(transaction__kind=TransactionKind.TICKET)
    row = sold.aggregate(n=Count("id"), t=Sum("amount"))
    refunded = _wallet_entries(stream, [TransactionKind.TICKET]).filter(transaction__kind=TransactionKind.TICKET_REFUND)
    back = refunded.aggregate(n=Count("id"), t=Sum("amount"))
    return {
        "count": int(row["n"] or 0),
        "tokens": int(-(row["t"] or 0)),
        "refunded_count": int(back["n"] or 0),
        "refunded_tokens": int(back["t"] or 0),
    }


# --- live figures ----------------------------------------------------------------------------


def viewer_count(stream: LiveStream) -> int:
    if not stream.is_live:
        return 0
    return rooms.presence_count(stream.room, ttl=settings.LIVE_PRESENCE_TTL_S)


def p2p_seats_room(stream: LiveStream) -> str:
    return f"{stream.room}.p2p"


def stream_payload(stream: LiveStream, *, viewer=None) -> dict:
    """A stream as the API, the page and the socket show it (the summary only to the host)."""
    host = stream.host
    data = {
        "id": str(stream.pk),
        "host": {"id": str(host.pk), "username": host.username, "name": _name(host)},
        "title": stream.title,
        "category": stream.category,
        "audience": stream.audience,
        "ticket_price": stream.ticket_price,
        "media_provider": stream.media_provider,
        "status": stream.status,
        "end_reason": stream.end_reason,
        "started_at": stream.started_at.isoformat(),
        "ended_at": stream.ended_at.isoformat() if stream.ended_at else None,
        "viewers": viewer_count(stream),
        "goal": goal_progress(stream),
        "chat": {"slow_mode_s": stream.slow_mode_s, "followers_only": stream.followers_only,
                 "followers_min_minutes": stream.followers_min_minutes},
        "url": f"/live/{host.username}/",
        "summary": None,
    }
    if viewer is not None and viewer.is_authenticated and viewer.pk == stream.host_id:
        data["summary"] = stream.summary
    return data
