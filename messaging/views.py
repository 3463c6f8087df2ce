"""Server-rendered messaging pages. Reading and sending work without JavaScript;
``messaging/static/messaging/*.js`` adds live updates, typing, read receipts and
upward history loading on top of the same markup."""

import uuid

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from digis.errors import DomainError
from messaging import rules, selectors, services
from messaging.exceptions import ConversationNotFound, MessageNotFound, RecipientNotFound
from messaging.models import Broadcast


def _with_actions(message: dict, conversation_data: dict, user) -> dict:
    """What the page may offer on a message: delete (own, in the window) or decline (a held one, to the creator)."""
    from datetime import datetime, timedelta

    from django.utils import timezone

    gone = message["deleted"] or message["hidden"]
    in_window = timezone.now() - datetime.fromisoformat(message["created_at"]) <= timedelta(seconds=settings.MESSAGE_DELETE_WINDOW_S)
    declinable = conversation_data["side"] == "creator" and message["escrow_state"] == "held" and not message["mine"]
    return {**message, "can_delete": not gone and ((message["mine"] and in_window) or declinable)}


def _thread_context(request, conversation, *, before=None, error=None, text=""):
    user = request.user
    selectors.decorate([conversation], user)
    page, older = selectors.history(conversation=conversation, viewer=user, before=before, limit=selectors.PAGE_SIZE)
    data = selectors.conversation_data(conversation, user)
    gate = rules.sending_gate(conversation=conversation, user=user)
    other = conversation.creator if data["side"] == "fan" else conversation.fan
    return {
        "conversation": conversation,
        "data": data,
        "other": data["other"],
        "other_user": other,
        # Not "messages": base.html shows Django's flash messages under that name.
        "thread_messages": [_with_actions(selectors.message_data(m, user), data, user) for m in page],
        "older": older,
        "before": before,
        "gate": gate,
        "error": error,
        "text": text,
        "client_message_id": uuid.uuid4().hex,
        "settings": selectors.message_settings(),
        "stream_position": selectors.stream_position(user),
        "reply_window_h": settings.MESSAGE_REPLY_WINDOW_H,
        "buy_url": settings.CALL_BUY_TOKENS_URL,
    }


@login_required
@require_GET
def inbox(request):
    from messaging.api import _decode_cursor, _encode_cursor

    try:
        cursor = _decode_cursor(request.GET.get("cursor"))
    except DomainError:
        cursor = None
    page, position = selectors.inbox(request.user, before=cursor)
    conversations = [selectors.conversation_data(c, request.user) for c in page]
    return render(request, "messaging/inbox.html", {
        "conversations": conversations,
        "next_cursor": _encode_cursor(position),
        "read_receipts": selectors.read_receipts_on(request.user),
        "is_creator": request.user.role == "creator",
        "stream_position": selectors.stream_position(request.user),
    })


@login_required
@require_GET
def thread(request, conversation_id):
    try:
        conversation = selectors.conversation_for_party(conversation_id=conversation_id, user=request.user)
        before = selectors.parse_message_id(request.GET.get("before"), name="before")
    except ConversationNotFound:
        raise Http404("no such conversation")
    except DomainError:
        before = None
    context = _thread_context(request, conversation, before=before)
    if before is None and conversation.last_message_id:
        # Opening the thread reads it (receipts only if the reader keeps them on).
        services.mark_read(user=request.user, conversation_id=conversation.pk)
    return render(request, "messaging/thread.html", context)


def _send_error_status(exc: DomainError) -> int:
    return exc.status_code if 400 <= exc.status_code < 500 else 400


@login_required
@require_POST
def send(request, conversation_id):
    try:
        conversation = selectors.conversation_for_party(conversation_id=conversation_id, user=request.user)
    except ConversationNotFound:
        raise Http404("no such conversation")
    text = request.POST.get("text", "")
    try:
        message, _ = services.send_message(
            sender=request.user, conversation_id=conversation.pk, client_message_id=request.POST.get("client_message_id"),
            text=text, image=request.FILES.get("image"),
        )
    except DomainError as exc:
        context = _thread_context(request, conversation, error=exc, text=text)
        return render(request, "messaging/thread.html", context, status=_send_error_status(exc))
    return redirect(f"{reverse('messaging:thread', args=[conversation.pk])}#m{message.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def start(request, username):
    """The "Message" button of a creator's page: the existing thread, or a first message to them."""
    try:
        other = services.resolve_person(username)
    except RecipientNotFound:
        raise Http404("nobody to message")
    existing = selectors.conversation_between(request.user, other)
    if existing is not None:
        return redirect("messaging:thread", conversation_id=existing.pk)
    error = None
    text = ""
    if request.method == "POST":
        text = request.POST.get("text", "")
        try:
            conversation, _ = services.open_conversation(user=request.user, with_user=other)
            message, _ = services.send_message(
                sender=request.user, conversation_id=conversation.pk, client_message_id=request.POST.get("client_message_id"),
                text=text, image=request.FILES.get("image"),
            )
            return redirect(f"{reverse('messaging:thread', args=[conversation.pk])}#m{message.pk}")
        except DomainError as exc:
            error = exc
            existing = selectors.conversation_between(request.user, other)
            if existing is not None:  # opened, but the first message was refused: show it in the thread
                context = _thread_context(request, selectors.conversation_for_party(conversation_id=existing.pk, user=request.user),
                                          error=exc, text=text)
                return render(request, "messaging/thread.html", context, status=_send_error_status(exc))
    profile = rules.creator_profile(other) if other.role == "creator" else None
    return render(request, "messaging/start.html", {
        "other": selectors.person_data(other),
        "price": profile.message_price if profile else 0,
        "policy": profile.message_policy if profile else "",
        "min_spend": max(1, profile.message_min_spend) if profile else 0,
        "error": error,
        "text": text,
        "client_message_id": uuid.uuid4().hex,
        "reply_window_h": settings.MESSAGE_REPLY_WINDOW_H,
        "buy_url": settings.CALL_BUY_TOKENS_URL,
        "max_chars": settings.MESSAGE_MAX_CHARS,
        "is_self": other.pk == request.user.pk,
    }, status=_send_error_status(error) if error else 200)


@login_required
@require_POST
def delete(request, conversation_id, message_id):
    try:
        services.delete_message(user=request.user, message_id=message_id)
    except MessageNotFound:
        raise Http404("no such message")
    except DomainError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Message deleted.")
    return redirect("messaging:thread", conversation_id=conversation_id)


@login_required
@require_POST
def report(request, conversation_id, message_id):
    from moderation.exceptions import UnknownTarget
    from moderation.services import file_report

    try:
        file_report(reporter=request.user, target_kind="message", target_id=str(message_id),
                    reason=request.POST.get("reason", ""), note=request.POST.get("note", ""))
    except UnknownTarget:
        raise Http404("no such message")
    except DomainError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Thanks. A moderator will look at this message.")
    return redirect("messaging:thread", conversation_id=conversation_id)


@login_required
@require_GET
def image(request, message_id):
    """A message's image, to the two people in the conversation only."""
    try:
        message = selectors.message_for_party(message_id=message_id, user=request.user)
    except MessageNotFound:
        raise Http404("no such image")
    if not selectors.image_url(message):
        raise Http404("no such image")
    response = FileResponse(message.image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def messaging_settings(request):
    services.set_read_receipts(user=request.user, enabled=request.POST.get("read_receipts") == "on")
    flash.success(request, "Read receipts are " + ("on." if request.POST.get("read_receipts") == "on" else "off."))
    return redirect("messaging:inbox")


@login_required
@require_http_methods(["GET", "POST"])
def broadcasts(request):
    if request.user.role != "creator":
        return render(request, "creators/not_creator.html", status=403)
    error = None
    form = {"text": "", "audience": Broadcast.Audience.FOLLOWERS, "min_spend": "", "client_broadcast_id": uuid.uuid4().hex}
    if request.method == "POST":
        form.update({key: request.POST.get(key, "") for key in ("text", "audience", "min_spend", "client_broadcast_id")})
        try:
            min_spend = int(form["min_spend"] or 0)
        except ValueError:
            min_spend = -1
        try:
            services.start_broadcast(creator=request.user, text=form["text"], audience=form["audience"],
                                     min_spend=min_spend, client_broadcast_id=form["client_broadcast_id"])
        except DomainError as exc:
            error = exc
        else:
            flash.success(request, "Your broadcast is on its way. Each fan gets it once, in their inbox.")
            return redirect("messaging:broadcasts")
    rows = Broadcast.objects.filter(creator=request.user).order_by("-created_at")[:20]
    return render(request, "messaging/broadcasts.html", {
        "broadcasts": rows, "form": form, "error": error, "audiences": Broadcast.Audience.choices,
        "max_chars": settings.MESSAGE_MAX_CHARS,
    }, status=_send_error_status(error) if error else 200)

