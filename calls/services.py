"""Every write to a call: ringing, answering, presence, billing and settlement.

How a call advances
- ``request_call`` rings the creator; ``accept_call``/``decline_call``/
  ``cancel_call`` answer the ring; ``join_call``/``heartbeat_call``/
  ``leave_call`` record presence; ``end_call`` hangs up; ``advance_call`` is
  the tick the sweeper (and every presence event) runs: ring timeouts,
  activation, silent parties, minutes due, drops.
- Each public function is one durable transaction holding the call's row lock
  (``calls.locks``). State moves by compare-and-swap on ``status`` as a
  backstop, so two hang-ups at once settle once.
- Money moves only through ``ledger.services`` with keys
  ``call:<id>:minute:<n>`` and ``call:<id>:refund:<n>``: a retry is a no-op.
- Billing is computed by ``calls.billing`` from the recorded intervals; the
  clock only decides *when* we look, never *what* is charged.
- Socket events go out after commit (``send_event_on_commit``).
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from calls import billing
from calls.exceptions import (
    AlreadyInCall,
    CallBlocked,
    CannotAffordCall,
    CannotCallSelf,
    CreatorNotFound,
    CreatorUnavailable,
    InvalidCallKind,
    InvalidCallState,
    WrongParty,
)
from calls.locks import lock_call
from calls.models import CallKind, CallPresence, CallSession, CallStatus, EndReason
from calls.selectors import call_for_party, live_call_of
from digis.background import enqueue_on_commit
from digis.errors import ServiceUnavailable
from digis.realtime.events import send_event_on_commit
from notifications.models import NotificationKind
from notifications.services import notify

logger = logging.getLogger(__name__)

MEDIA_STATUSES = (CallStatus.ACCEPTED, CallStatus.ACTIVE, CallStatus.PAUSED)
IN_CALL_STATUSES = (CallStatus.ACTIVE, CallStatus.PAUSED)


def ring_timeout():
    return timedelta(seconds=settings.CALL_RING_TIMEOUT_S)


def connect_timeout():
    return timedelta(seconds=settings.CALL_CONNECT_TIMEOUT_S)


def resume_window():
    return timedelta(seconds=settings.CALL_RESUME_WINDOW_S)


def silence():
    return timedelta(seconds=settings.CALL_SILENCE_S)


def buy_url() -> str:
    return settings.CALL_BUY_TOKENS_URL


def _display_name(user) -> str:
    return user.get_full_name() or user.username


# --- requesting ----------------------------------------------------------------


def resolve_creator(ref):
    """A creator by id or username (case-insensitive), or 404 ``creator_not_found``."""
    User = get_user_model()
    if isinstance(ref, User):
        user = ref
    else:
        ref = str(ref or "").strip()
        try:
            lookup = Q(pk=uuid.UUID(ref))
        except ValueError:
            lookup = Q(username__iexact=ref)
        user = User.objects.filter(lookup).first() if ref else None
    if user is None or not user.is_active or getattr(user, "is_banned", False):
        raise CreatorNotFound()
    from creators.models import CreatorProfile

    profile = CreatorProfile.objects.filter(user=user).first()
    if profile is None:
        raise CreatorNotFound()
    return user, profile


def request_call(*, fan, creator, kind: str) -> CallSession:
    """Ring ``creator`` (a user, id or username) for a ``kind`` call paid by ``fan``.

    Refuses, with nothing written: 404 creator_not_found, 400 cannot_call_self /
    invalid_call_kind, 403 blocked, 409 creator_offline / creator_busy /
    creator_dnd / already_in_call, 402 insufficient_funds (with ``shortfall``
    and ``buy_url``) when the balance does not cover min_minutes x rate.
    Race-safe: the unique partial indexes let one of two racing rings win.
    """
    from accounts.selectors import is_blocked_between
    from creators.selectors import availability
    from digis.realtime.presence import presence_unknown
    from ledger.services import balance_of

    if kind not in CallKind.values:
        raise InvalidCallKind(fields={"kind": ['Must be "video" or "voice".']})
    creator, profile = resolve_creator(creator)
    if creator.pk == fan.pk:
        raise CannotCallSelf()
    if is_blocked_between(fan, creator):
        raise CallBlocked()
    rate = int(profile.video_call_rate if kind == CallKind.VIDEO else profile.voice_call_rate)
    min_minutes = int(profile.min_call_minutes)

    with transaction.atomic(durable=True):
        if live_call_of(fan) is not None:
            raise AlreadyInCall()
        state = availability([creator.pk]).get(str(creator.pk), "offline")
        if state == "offline" and presence_unknown():
            # Redis is away: nobody's sockets can be seen, so "offline" would be a guess.
            raise ServiceUnavailable("Calls are briefly unavailable. Please try again in a minute.", retry_after=30)
        if state != "online":
            code = {"in_call": "creator_busy", "dnd": "creator_dnd"}.get(state, "creator_offline")
            message = {
                "creator_busy": "This creator is in another call.",
                "creator_dnd": "This creator is not taking calls right now.",
                "creator_offline": "This creator is offline.",
            }[code]
            raise CreatorUnavailable(message, code=code)
        needed = rate * min_minutes
        balance = balance_of(user=fan)
        if balance < needed:
            raise CannotAffordCall(
                f"This call needs at least {needed} tokens ({min_minutes} min x {rate}); you have {balance}.",
                shortfall=needed - balance,
                required=needed,
                balance=balance,
                buy_url=buy_url(),
            )
        try:
            with transaction.atomic():
                call = CallSession.objects.create(fan=fan, creator=creator, kind=kind, rate=rate, min_minutes=min_minutes)
        except IntegrityError as exc:
            # The database backstop: someone committed a live call between our check and insert.
            text = str(exc)
            if "creator" in text:
                raise CreatorUnavailable("This creator is in another call.", code="creator_busy")
            raise AlreadyInCall()
        send_event_on_commit(
            [creator.pk],
            {
                "type": "call.ringing",
                "call_id": str(call.id),
                "fan": {"id": str(fan.pk), "username": fan.username, "name": _display_name(fan)},
                "kind": kind,
                "rate": rate,
                "min_minutes": min_minutes,
                "expires_in_s": settings.CALL_RING_TIMEOUT_S,
            },
        )
        notify(
            recipient=creator,
            kind=NotificationKind.CALL_INCOMING,
            text=f"{_display_name(fan)} is calling you ({CallKind(kind).label.lower()} call, {rate} tokens/min).",
            actor=fan,
            target=call,
            url=f"/calls/{call.id}/",
            data={"call_id": str(call.id), "kind": kind},
            dedupe_key=f"call:{call.id}:incoming",
        )
    return call


# --- answering -------------------------------------------------------------------


def _party_call(call_id, user) -> CallSession:
    """404 for non-parties before any lock is taken."""
    return call_for_party(call_id=call_id, user=user)


def accept_call(*, call_id, user) -> tuple[CallSession, dict | None]:
    """The creator answers. Returns the call and the creator's media credentials.

    403 only_creator_can_accept for the fan; 409 call_not_ringing when it is no
    longer ringing (a ring past its 30 s is marked missed, not accepted).
    """
    from calls.media import rtc_credentials

    call = _party_call(call_id, user)
    if user.pk != call.creator_id:
        raise WrongParty("Only the creator can accept a call.", code="only_creator_can_accept")
    now = timezone.now()
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status == CallStatus.REQUESTED and now >= call.requested_at + ring_timeout():
            _finish(call, EndReason.MISSED, ended_at=call.requested_at + ring_timeout(), now=now)
        if call.status != CallStatus.REQUESTED:
            refused = InvalidCallState("This call is no longer ringing.", code="call_not_ringing", status=call.status)
        else:
            refused = None
            _cas(call, CallStatus.REQUESTED, status=CallStatus.ACCEPTED, accepted_at=now)
            fan_credentials = rtc_credentials(call=call, user=call.fan)
            creator_credentials = rtc_credentials(call=call, user=call.creator)
            base = {"type": "call.accepted", "call_id": str(call.id), "kind": call.kind, "rate": call.rate}
            send_event_on_commit([call.fan_id], {**base, "media": fan_credentials})
            send_event_on_commit([call.creator_id], {**base, "media": creator_credentials})
    if refused:
        raise refused
    return call, creator_credentials


def decline_call(*, call_id, user) -> CallSession:
    """The creator says no to a ringing call (403 only_creator_can_decline for the fan)."""
    call = _party_call(call_id, user)
    if user.pk != call.creator_id:
        raise WrongParty("Only the creator can decline a call.", code="only_creator_can_decline")
    return _end_ringing(call_id, EndReason.DECLINED)


def cancel_call(*, call_id, user) -> CallSession:
    """The fan stops ringing (403 only_fan_can_cancel for the creator)."""
    call = _party_call(call_id, user)
    if user.pk != call.fan_id:
        raise WrongParty("Only the caller can cancel a ringing call.", code="only_fan_can_cancel")
    return _end_ringing(call_id, EndReason.CANCELLED)


def _end_ringing(call_id, reason) -> CallSession:
    now = timezone.now()
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status == CallStatus.REQUESTED and now >= call.requested_at + ring_timeout():
            _finish(call, EndReason.MISSED, ended_at=call.requested_at + ring_timeout(), now=now)
        if call.status == CallStatus.REQUESTED:
            _finish(call, reason, ended_at=now, now=now)
            refused = None
        elif call.status == CallStatus.ENDED and call.end_reason == reason:
            refused = None  # a double click: the same answer again
        else:
            refused = InvalidCallState("This call is no longer ringing.", code="call_not_ringing", status=call.status)
    if refused:
        raise refused
    return call


# --- presence --------------------------------------------------------------------


def join_call(*, call_id, user) -> CallSession:
    """``user`` is in the call (socket ``call.join``). Idempotent.

    When both parties are present the call becomes active and the first minute
    is charged; a party coming back within the resume window resumes it.
    """
    return _presence(call_id, user, present=True)


def heartbeat_call(*, call_id, user) -> CallSession:
    """``user`` is still in the call (every 10 s). Also bills any minute that is due."""
    return _presence(call_id, user, present=True)


def leave_call(*, call_id, user) -> CallSession:
    """``user`` left the media session (the call pauses; hang up with ``end_call``)."""
    return _presence(call_id, user, present=False)


def _presence(call_id, user, *, present: bool) -> CallSession:
    _party_call(call_id, user)
    now = timezone.now()
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status not in MEDIA_STATUSES:
            refused = InvalidCallState("This call is not connected.", code="call_not_live", status=call.status)
        else:
            refused = None
            _close_silent(call, now)
            open_presence = CallPresence.objects.filter(call=call, user=user, left_at__isnull=True).first()
            if present:
                if open_presence is None:
                    CallPresence.objects.create(call=call, user=user, joined_at=now, last_seen_at=now)
                else:
                    CallPresence.objects.filter(pk=open_presence.pk).update(last_seen_at=now)
            elif open_presence is not None:
                CallPresence.objects.filter(pk=open_presence.pk, left_at__isnull=True).update(left_at=now)
            _advance(call, now)
    if refused:
        raise refused
    return call


# --- hanging up, ticking, settling ------------------------------------------------


def end_call(*, call_id, user) -> CallSession:
    """Either party hangs up. Idempotent: a call that already ended is returned as is.

    A ringing call is cancelled (by the fan) or declined (by the creator). A
    connected call first bills whatever minute is due, then ends and settles
    in the same transaction.
    """
    _party_call(call_id, user)
    now = timezone.now()
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status == CallStatus.REQUESTED:
            if now >= call.requested_at + ring_timeout():
                _finish(call, EndReason.MISSED, ended_at=call.requested_at + ring_timeout(), now=now)
            else:
                reason = EndReason.CANCELLED if user.pk == call.fan_id else EndReason.DECLINED
                _finish(call, reason, ended_at=now, now=now)
        elif call.status in MEDIA_STATUSES:
            _advance(call, now, ending=True)
            if call.status != CallStatus.ENDED:
                reason = EndReason.COMPLETED if call.active_at else EndReason.CANCELLED
                _finish(call, reason, ended_at=now, now=now)
        elif call.settled_at is None:
            _settle(call, now)
    return call


def advance_call(*, call_id) -> CallSession:
    """One tick for one call, at the current time: what the sweeper runs.

    Marks an unanswered ring missed, ends a call nobody connected to as failed,
    closes silent parties' intervals at their last heartbeat, bills due
    minutes (ending at the boundary as insufficient_funds if one cannot be
    paid), pauses/resumes, ends as dropped after the resume window, and
    finishes an interrupted settlement. Idempotent; running it late changes
    nothing about what is charged.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status == CallStatus.ENDED:
            if call.settled_at is None:
                _settle(call, now)
        else:
            _advance(call, now)
    return call


def _cas(call: CallSession, expected: str, **changes) -> None:
    """Compare-and-swap on status; the row lock makes a miss a bug, so it raises."""
    updated = CallSession.objects.filter(pk=call.pk, status=expected).update(**changes)
    if updated != 1:
        raise RuntimeError(f"call {call.pk} was not {expected!r}: concurrent change outside the row lock")
    for key, value in changes.items():
        setattr(call, key, value)


def _presences(call) -> list[CallPresence]:
    return list(CallPresence.objects.filter(call=call).order_by("joined_at", "id"))


def _intervals(presences, user_id, now) -> list[billing.Interval]:
    return [
        (p.joined_at, billing.presence_end(left_at=p.left_at, last_seen_at=p.last_seen_at, now=now, silence=silence()))
        for p in presences
        if p.user_id == user_id
    ]


def _is_present(presences, user_id, now) -> bool:
    return any(p.user_id == user_id and p.left_at is None and now - p.last_seen_at <= silence() for p in presences)


def _close_silent(call, now) -> None:
    """Close the open intervals of parties silent for longer than the silence limit, at their last heartbeat."""
    for presence in CallPresence.objects.filter(call=call, left_at__isnull=True, last_seen_at__lt=now - silence()):
        CallPresence.objects.filter(pk=presence.pk, left_at__isnull=True).update(left_at=presence.last_seen_at)


def _advance(call: CallSession, now, *, ending: bool = False) -> None:
    if call.status == CallStatus.REQUESTED:
        if now >= call.requested_at + ring_timeout():
            _finish(call, EndReason.MISSED, ended_at=call.requested_at + ring_timeout(), now=now)
        return
    if call.status not in MEDIA_STATUSES:
        return
    _close_silent(call, now)
    presences = _presences(call)
    fan_here = _is_present(presences, call.fan_id, now)
    creator_here = _is_present(presences, call.creator_id, now)

    if call.status == CallStatus.ACCEPTED:
        if fan_here and creator_here:
            _cas(call, CallStatus.ACCEPTED, status=CallStatus.ACTIVE, active_at=now)
            if not _bill_due_minutes(call, presences, now):
                return
            covered = _covered_seconds(call, presences, now)
            base = {"type": "call.active", "call_id": str(call.id), "started_at": now.isoformat(), "rate": call.rate}
            send_event_on_commit([call.fan_id], {**base, "covered_seconds": covered})
            send_event_on_commit([call.creator_id], base)
            _warn_low_balance(call, presences, now)
        elif now >= call.accepted_at + connect_timeout():
            _finish(call, EndReason.FAILED, ended_at=call.accepted_at + connect_timeout(), now=now)
        return

    # Active or paused.
    fan_iv, creator_iv = _intervals(presences, call.fan_id, now), _intervals(presences, call.creator_id, now)
    dropped_at = billing.drop_time(fan_iv, creator_iv, since=call.active_at, now=now, window=resume_window())
    if dropped_at is not None:
        # Apart for the whole resume window: the call ended then, whenever we notice.
        if _bill_due_minutes(call, presences, now, until=dropped_at, ending=True):
            _finish(call, EndReason.DROPPED, ended_at=dropped_at, now=now)
        return
    if not _bill_due_minutes(call, presences, now, ending=ending):
        return
    if ending:
        return
    _warn_low_balance(call, presences, now)
    if call.status == CallStatus.ACTIVE and not (fan_here and creator_here):
        absent = [str(uid) for uid, here in ((call.fan_id, fan_here), (call.creator_id, creator_here)) if not here]
        overlaps = billing.both_present(fan_iv, creator_iv)
        since = overlaps[-1][1] if overlaps else call.active_at
        _cas(call, CallStatus.ACTIVE, status=CallStatus.PAUSED, paused_at=since)
        send_event_on_commit(
            call.party_ids(),
            {
                "type": "call.paused",
                "call_id": str(call.id),
                "absent": absent,
                "since": since.isoformat(),
                "resume_within_s": settings.CALL_RESUME_WINDOW_S,
            },
        )
    elif call.status == CallStatus.PAUSED and fan_here and creator_here:
        _cas(call, CallStatus.PAUSED, status=CallStatus.ACTIVE, paused_at=None)
        covered = _covered_seconds(call, presences, now)
        send_event_on_commit([call.fan_id], {"type": "call.resumed", "call_id": str(call.id), "covered_seconds": covered})
        send_event_on_commit([call.creator_id], {"type": "call.resumed", "call_id": str(call.id)})


def _bill_due_minutes(call: CallSession, presences, now, *, until=None, ending: bool = False) -> bool:
    """Charge every minute that billable time has reached. False if the call ended for lack of funds.

    Minute n is due when both parties have been present (n - 1) minutes, and
    is charged under the key call:<id>:minute:<n>. When it cannot be paid the
    call ends exactly at that boundary, however late we noticed.
    """
    from ledger.exceptions import InsufficientFunds, WalletFrozen
    from ledger.services import charge_with_fee

    fan_iv, creator_iv = _intervals(presences, call.fan_id, now), _intervals(presences, call.creator_id, now)
    billable = billing.billable_us(fan_iv, creator_iv, until=until)
    # While talking, a minute is charged the instant it starts; at the end only
    # minutes that actually started (a hang-up exactly on a boundary starts none).
    due = billing.minutes_started(billable) if ending else billing.minutes_due(billable)
    while call.minutes_charged < due:
        minute = call.minutes_charged + 1
        try:
            with transaction.atomic():
                charge_with_fee(
                    payer=call.fan,
                    creator=call.creator,
                    amount=call.rate,
                    kind="call_charge",
                    idempotency_key=f"call:{call.id}:minute:{minute}",
                    reference=f"call:{call.id}",
                )
        except (InsufficientFunds, WalletFrozen):
            boundary = billing.instant_of_billable(fan_iv, creator_iv, (minute - 1) * billing.MINUTE_US) or now
            _finish(call, EndReason.INSUFFICIENT_FUNDS, ended_at=boundary, now=now)
            return False
        updated = CallSession.objects.filter(pk=call.pk, minutes_charged=minute - 1).update(
            minutes_charged=minute, tokens_charged=minute * call.rate
        )
        if updated != 1:
            raise RuntimeError(f"call {call.pk}: minute {minute} billed concurrently outside the row lock")
        call.minutes_charged = minute
        call.tokens_charged = minute * call.rate
    return True


def _covered_seconds(call, presences, now) -> int:
    """How long the fan can still talk: the rest of the prepaid minute plus what the wallet pays."""
    from ledger.services import balance_of

    billable = billing.billable_us(_intervals(presences, call.fan_id, now), _intervals(presences, call.creator_id, now))
    prepaid = billing.seconds_left_in_prepaid(billable=billable, minutes_charged=call.minutes_charged)
    return prepaid + (max(balance_of(user=call.fan), 0) // call.rate) * 60


def _warn_low_balance(call, presences, now) -> None:
    """Once per minute: the wallet cannot pay the next minute, so say how long is left."""
    from ledger.services import balance_of

    if call.status not in IN_CALL_STATUSES or call.low_balance_warned_minute >= call.minutes_charged:
        return
    if balance_of(user=call.fan) >= call.rate:
        return
    billable = billing.billable_us(_intervals(presences, call.fan_id, now), _intervals(presences, call.creator_id, now))
    seconds_left = billing.seconds_left_in_prepaid(billable=billable, minutes_charged=call.minutes_charged)
    CallSession.objects.filter(pk=call.pk).update(low_balance_warned_minute=call.minutes_charged)
    call.low_balance_warned_minute = call.minutes_charged
    send_event_on_commit(
        [call.fan_id],
        {"type": "call.low_balance", "call_id": str(call.id), "seconds_left": seconds_left, "buy_url": buy_url()},
    )


def _finish(call: CallSession, reason: str, *, ended_at, now) -> None:
    """End a live call (compare-and-swap), close presence at the end, settle, tell both."""
    previous = call.status
    ended_at = min(ended_at, now)
    _cas(call, previous, status=CallStatus.ENDED, end_reason=reason, ended_at=ended_at, paused_at=None)
    for presence in CallPresence.objects.filter(call=call, left_at__isnull=True):
        end = billing.presence_end(left_at=None, last_seen_at=presence.last_seen_at, now=now, silence=silence())
        end = max(presence.joined_at, min(end, ended_at))
        CallPresence.objects.filter(pk=presence.pk, left_at__isnull=True).update(left_at=end)
    if previous == CallStatus.REQUESTED:
        CallSession.objects.filter(pk=call.pk, settled_at__isnull=True).update(settled_at=now)
        call.settled_at = now
        send_event_on_commit(call.party_ids(), {"type": f"call.{reason}", "call_id": str(call.id), "reason": reason})
        if reason == EndReason.MISSED:
            notify(
                recipient=call.creator,
                kind=NotificationKind.CALL_MISSED,
                text=f"You missed a {CallKind(call.kind).label.lower()} call from {_display_name(call.fan)}.",
                actor=call.fan,
                target=call,
                data={"call_id": str(call.id), "kind": call.kind},
                dedupe_key=f"call:{call.id}:missed",
            )
        return
    _settle(call, now)


def _settle(call: CallSession, now) -> None:
    """Settle an ended call: refund the unused part of what was charged, write the receipt.

    Idempotent and re-runnable: amounts come from ``billing.settle`` over the
    recorded intervals, and each refund carries its own key, so running it
    again (after a crash, from the sweeper) moves no more money.
    """
    from ledger.models import Transaction
    from ledger.services import refund_charge

    presences = _presences(call)
    result = billing.settle(
        fan=_intervals(presences, call.fan_id, now),
        creator=_intervals(presences, call.creator_id, now),
        end=call.ended_at,
        rate=call.rate,
        minutes_charged=call.minutes_charged,
    )
    for minute, amount in billing.refund_plan(rate=call.rate, minutes_charged=call.minutes_charged, refund=result.tokens_refunded):
        original = Transaction.objects.get(idempotency_key=f"call:{call.id}:minute:{minute}")
        with transaction.atomic():
            refund_charge(
                original=original,
                amount=amount,
                idempotency_key=f"call:{call.id}:refund:{minute}",
                reason="call_unused_time" if result.tokens_paid else "call_never_connected",
            )
    earnings, fee = _earnings_and_fee(call)
    if result.tokens_paid:
        _release_earnings(call)
    receipt = {
        "active_seconds": result.active_seconds,
        "tokens_charged": result.tokens_charged,
        "tokens_refunded": result.tokens_refunded,
        "creator_earnings": earnings,
        "platform_fee": fee,
        "settled_at": now,
    }
    updated = CallSession.objects.filter(pk=call.pk, status=CallStatus.ENDED, settled_at__isnull=True).update(**receipt)
    if updated != 1:
        raise RuntimeError(f"call {call.pk} settled twice")
    for key, value in receipt.items():
        setattr(call, key, value)
    send_event_on_commit(
        call.party_ids(), {"type": "call.ended", "call_id": str(call.id), "reason": call.end_reason, "receipt": receipt_of(call)}
    )


def _earnings_and_fee(call) -> tuple[int, int]:
    """The creator's share and the platform's fee of this call, net of refunds, as the ledger recorded them."""
    from ledger.models import AccountKind, Entry, SystemAccount

    entries = Entry.objects.filter(transaction__reference=f"call:{call.id}")
    earnings = entries.filter(account__kind=AccountKind.EARNINGS, account__user_id=call.creator_id).aggregate(s=Sum("amount"))["s"] or 0
    fee = entries.filter(account__kind=AccountKind.SYSTEM, account__system_code=SystemAccount.PLATFORM_FEE).aggregate(s=Sum("amount"))["s"] or 0
    return int(earnings), int(fee)


def _release_earnings(call) -> None:
    """After commit, release the creator's pending earnings (the ledger keeps them pending until released).

    A separate transaction on purpose: releasing locks the creator's wallet,
    which must not wait inside the call's lock while holding the fan's wallet.
    If it never runs, the ledger's periodic release picks the earnings up.
    """
    from calls.tasks import release_call_earnings

    call_id = str(call.id)
    enqueue_on_commit(release_call_earnings, call_id)


def receipt_of(call: CallSession) -> dict:
    return {
        "active_seconds": call.active_seconds,
        "rate": call.rate,
        "minutes_started": call.minutes_charged,
        "tokens_charged": call.tokens_charged,
        "tokens_refunded": call.tokens_refunded,
        "tokens_paid": call.tokens_charged - call.tokens_refunded,
        "creator_earnings": call.creator_earnings,
        "platform_fee": call.platform_fee,
    }


# --- staff actions (the admin) ---------------------------------------------------------


def _staff_reason(reason) -> str:
    from digis.errors import InvalidInput

    reason = str(reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.", fields={"reason": ["Required."]}, code="reason_required")
    return reason[:500]


def end_call_as_staff(*, call_id, actor, reason: str) -> CallSession:
    """A moderator ends a live call (abuse, a call stuck open). Billing stops
    now: the fan pays exactly what both parties' presence says, as when a party
    hangs up, and the call settles in the same transaction. Writes an audit row
    (actor, reason, before, after) with it. A call that already ended is refused
    (409 invalid_call_state), so the audit trail holds only real ends."""
    from accounts.services import record_audit

    reason = _staff_reason(reason)
    now = timezone.now()
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status == CallStatus.ENDED:
            raise InvalidCallState("This call has already ended.")
        before = {"status": call.status}
        if call.status != CallStatus.REQUESTED:
            _advance(call, now, ending=True)
        if call.status != CallStatus.ENDED:
            _finish(call, EndReason.ENDED_BY_STAFF, ended_at=now, now=now)
        record_audit(
            actor=actor, action="calls.end", target=call, reason=reason, before=before,
            after={"status": call.status, "end_reason": call.end_reason, "tokens_paid": call.tokens_charged - call.tokens_refunded},
        )
    return call


def refund_call_as_staff(*, call_id, actor, reason: str) -> CallSession:
    """A moderator gives the fan back everything they still paid for a settled
    call. Each minute's charge is refunded through the ledger under its own key
    (``call:<id>:staff-refund:<n>``), taking the creator's share back from
    pending earnings and the fee from the platform; the receipt is rewritten
    from the ledger and an audit row is written, all in one transaction.
    Refunding twice is refused (409), so money moves once."""
    from accounts.services import record_audit
    from ledger.models import AccountKind, Entry, Transaction
    from ledger.services import refund_charge

    reason = _staff_reason(reason)
    with transaction.atomic(durable=True):
        call = lock_call(call_id)
        if call.status != CallStatus.ENDED or call.settled_at is None:
            raise InvalidCallState("Only an ended, settled call can be refunded.")
        if call.refunded_by_staff_at is not None or call.tokens_refunded >= call.tokens_charged:
            raise InvalidCallState("Nothing is left to refund on this call.")
        before = receipt_of(call)
        for minute in range(1, call.minutes_charged + 1):
            charge = Transaction.objects.get(idempotency_key=f"call:{call.id}:minute:{minute}")
            wallet_legs = Entry.objects.filter(account__kind=AccountKind.WALLET, account__user_id=call.fan_id)
            charged = -sum(e.amount for e in wallet_legs.filter(transaction=charge))
            refunded = sum(e.amount for e in wallet_legs.filter(transaction__original=charge))
            if charged - refunded > 0:
                refund_charge(
                    original=charge, amount=charged - refunded, idempotency_key=f"call:{call.id}:staff-refund:{minute}", reason=reason
                )
        earnings, fee = _earnings_and_fee(call)
        receipt = {
            "tokens_refunded": call.tokens_charged, "creator_earnings": earnings, "platform_fee": fee,
            "refunded_by_staff_at": timezone.now(),
        }
        CallSession.objects.filter(pk=call.pk, refunded_by_staff_at__isnull=True).update(**receipt)
        for key, value in receipt.items():
            setattr(call, key, value)
        record_audit(actor=actor, action="calls.refund", target=call, reason=reason, before=before, after=receipt_of(call))
        send_event_on_commit(call.party_ids(), {"type": "call.refunded", "call_id": str(call.id), "receipt": receipt_of(call)})
    return call
