"""Call pages: the confirmation before ringing, and the call itself.

The pages parse input and call ``calls.services``; every write happens there.
The confirmation page works without JavaScript (a plain form); the call page
needs it for the camera, microphone and the live connection
(``static/js/call.js``), but its buttons are plain forms too.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from calls import billing, media, selectors, services
from calls.models import CallKind, CallStatus, EndReason
from digis.errors import DomainError

ACTIONS = {
    "accept": lambda call_id, user: services.accept_call(call_id=call_id, user=user),
    "decline": lambda call_id, user: services.decline_call(call_id=call_id, user=user),
    "cancel": lambda call_id, user: services.cancel_call(call_id=call_id, user=user),
    "end": lambda call_id, user: services.end_call(call_id=call_id, user=user),
}
AVAILABILITY_LABELS = {"online": "Online", "in_call": "In a call", "offline": "Offline", "dnd": "Not taking calls"}


def _bad_request(request, message: str):
    return render(request, "calls/bad_request.html", {"message": message}, status=400)


def _confirmation_context(request, creator, profile, kind: str) -> dict:
    from creators.selectors import availability
    from ledger.services import balance_of

    rate = int(profile.video_call_rate if kind == CallKind.VIDEO else profile.voice_call_rate)
    min_minutes = int(profile.min_call_minutes)
    balance = balance_of(user=request.user)
    min_cost = rate * min_minutes
    state = availability([creator.pk]).get(str(creator.pk), "offline")
    return {
        "creator": creator,
        "creator_name": profile.display_name or creator.get_full_name() or creator.username,
        "kind": kind,
        "kind_label": CallKind(kind).label,
        "rate": rate,
        "min_minutes": min_minutes,
        "min_cost": min_cost,
        "balance": balance,
        "covered_minutes": balance // rate,
        "shortfall": max(min_cost - balance, 0),
        "availability": state,
        "availability_label": AVAILABILITY_LABELS.get(state, state),
    }


@login_required
@require_http_methods(["GET", "POST"])
def new_call(request):
    """GET: what the call costs and how billing works. POST: ring the creator, then go to the call."""
    source = request.POST if request.method == "POST" else request.GET
    username = (source.get("creator") or "").strip()
    kind = source.get("kind") or ""
    if not username:
        return _bad_request(request, "Which creator do you want to call?")
    if kind not in CallKind.values:
        return _bad_request(request, 'A call is either "video" or "voice".')
    try:
        creator, profile = services.resolve_creator(username)
    except DomainError:
        raise Http404("No such creator.")

    error, status = None, 200
    if request.method == "POST":
        try:
            call = services.request_call(fan=request.user, creator=creator, kind=kind)
        except DomainError as exc:
            error = {"code": exc.code, "message": exc.message, **exc.extra}
            status = exc.status_code
        else:
            return redirect("calls:call", call_id=call.pk)
    context = _confirmation_context(request, creator, profile, kind)
    context["error"] = error
    return render(request, "calls/new.html", context, status=status)


def _intervals(presences, user_id, now):
    # The same reading of presence rows the core's billing uses: a silent
    # party's open interval ends at their last heartbeat.
    return [
        (p.joined_at, billing.presence_end(left_at=p.left_at, last_seen_at=p.last_seen_at, now=now, silence=services.silence()))
        for p in presences
        if p.user_id == user_id
    ]


def _live_figures(call) -> tuple[int, int | None]:
    """(seconds both were present so far, seconds the fan's balance still covers) for a page load mid-call."""
    from ledger.services import balance_of

    if call.status not in (CallStatus.ACTIVE, CallStatus.PAUSED):
        covered = (balance_of(user=call.fan) // call.rate) * 60 if call.status != CallStatus.ENDED else None
        return (call.active_seconds if call.status == CallStatus.ENDED else 0), covered
    now = timezone.now()
    presences = list(call.presences.order_by("joined_at", "id"))
    billable = billing.billable_us(_intervals(presences, call.fan_id, now), _intervals(presences, call.creator_id, now))
    prepaid = billing.seconds_left_in_prepaid(billable=billable, minutes_charged=call.minutes_charged)
    return billable // billing.SECOND_US, prepaid + (max(balance_of(user=call.fan), 0) // call.rate) * 60


RECEIPT_LABELS = [
    ("active_seconds", "Time talked"),
    ("rate", "Rate (tokens a minute)"),
    ("minutes_started", "Minutes started"),
    ("tokens_charged", "Tokens charged"),
    ("tokens_refunded", "Tokens refunded"),
    ("tokens_paid", "Tokens paid"),
    ("creator_earnings", "Creator earnings"),
    ("platform_fee", "Platform fee"),
]


def receipt_rows(call) -> list[tuple[str, str]]:
    if call.status != CallStatus.ENDED:
        return []
    rows = [("Outcome", EndReason(call.end_reason).label if call.end_reason else "Ended")]
    if call.settled_at is None:
        return rows + [("Receipt", "Being settled; reload in a moment.")]
    receipt = services.receipt_of(call)
    for key, label in RECEIPT_LABELS:
        value = receipt[key]
        if key == "active_seconds":
            value = f"{value // 60}:{value % 60:02d}"
        rows.append((label, str(value)))
    return rows


def _status_text(call, role: str, peer_name: str) -> str:
    if call.status == CallStatus.REQUESTED:
        return f"Ringing {peer_name}…" if role == "fan" else f"{peer_name} is calling you."
    if call.status == CallStatus.ACCEPTED:
        return "Connecting…"
    if call.status == CallStatus.ACTIVE:
        return "Connected."
    if call.status == CallStatus.PAUSED:
        return "Paused: billing stops until you are both back."
    return f"Call ended: {EndReason(call.end_reason).label.lower()}." if call.end_reason else "Call ended."


@login_required
def call_page(request, call_id):
    """The call as one party sees it; anyone else gets the same 404 as for a call that does not exist."""
    try:
        call = selectors.call_for_party(call_id=call_id, user=request.user)
    except DomainError:
        raise Http404("No such call.")
    role = "fan" if request.user.pk == call.fan_id else "creator"
    peer = call.creator if role == "fan" else call.fan
    peer_name = peer.get_full_name() or peer.username
    active_seconds, covered = _live_figures(call)
    context = {
        "call": call,
        "role": role,
        "peer_name": peer_name,
        "kind_label": CallKind(call.kind).label,
        "status_text": _status_text(call, role, peer_name),
        "ended": call.status == CallStatus.ENDED,
        "active_seconds": active_seconds,
        "covered_seconds": covered if role == "fan" else None,
        "covered_minutes": (covered or 0) // 60,
        "receipt_rows": receipt_rows(call),
        "agora_sdk_url": media.agora_sdk_url(),
    }
    return render(request, "calls/call.html", context)


@login_required
@require_POST
def call_action(request, call_id, action):
    """The call page's buttons without JavaScript: one service call, then back to the call."""
    act = ACTIONS.get(action)
    if act is None:
        raise Http404("No such action.")
    try:
        act(call_id, request.user)
    except DomainError as exc:
        if exc.status_code == 404:
            raise Http404("No such call.")
        messages.error(request, exc.message)
    return redirect("calls:call", call_id=call_id)
