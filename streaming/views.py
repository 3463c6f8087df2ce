"""Live pages: the streams live now, going live, the room, the summary.

The pages parse input and call ``streaming.services``; every write happens
there. Going live, ending, buying a ticket, tipping and chatting are plain
forms that work without JavaScript; the video and the live chat need it
(``streaming/static/streaming/live.js``).
"""

import uuid

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from digis.errors import DomainError
from streaming import selectors, services
from streaming.models import Audience, LiveStream, StreamStatus


def live_index(request):
    """Streams live now (public: signing in is needed to watch)."""
    streams = selectors.live_streams()
    if request.user.is_authenticated:
        from accounts.selectors import blocked_user_ids

        hidden = blocked_user_ids(request.user)
        if hidden:
            streams = streams.exclude(host_id__in=hidden)
    rows = [{"stream": s, "viewers": selectors.viewer_count(s), "host_name": selectors.display_name(s.host)} for s in streams[:60]]
    is_creator = request.user.is_authenticated and getattr(request.user, "role", "") == "creator"
    return render(request, "streaming/index.html", {"rows": rows, "is_creator": is_creator})


@login_required
@require_http_methods(["GET", "POST"])
def start(request):
    """GET: the go-live form. POST: go live, then to the room."""
    from creators.selectors import categories

    current = selectors.current_stream_of(request.user)
    if current is not None:
        return redirect("streaming:room", username=request.user.username)
    form = {"title": "", "category": "", "audience": Audience.EVERYONE, "ticket_price": ""}
    error, status = None, 200
    if request.method == "POST":
        form = {key: (request.POST.get(key) or "").strip() for key in form}
        price = None
        if form["audience"] == Audience.TICKET:
            try:
                price = int(form["ticket_price"])
            except ValueError:
                price = -1
        try:
            services.go_live(host=request.user, title=form["title"], category=form["category"], audience=form["audience"] or Audience.EVERYONE,
                             ticket_price=price)
            return redirect("streaming:room", username=request.user.username)
        except DomainError as exc:
            error, status = {"code": exc.code, "message": exc.message, "fields": exc.fields}, exc.status_code
    return render(request, "streaming/start.html", {
        "form": form, "error": error, "categories": categories(), "audiences": Audience.choices,
        "is_creator": getattr(request.user, "role", "") == "creator",
        "past": selectors.past_streams_of(request.user, limit=10),
    }, status=status)


def _host(username):
    User = get_user_model()
    host = User.objects.filter(username__iexact=username, is_active=True).first()
    if host is None or host.is_banned:
        raise Http404("No such creator.")
    return host


def room(request, username):
    """The live room of ``username`` (their live stream, or their last one once it ended)."""
    host = _host(username)
    viewer = request.user if request.user.is_authenticated else None
    if viewer is not None and viewer.pk != host.pk:
        from accounts.selectors import is_blocked_between

        if is_blocked_between(viewer, host):
            raise Http404("No such creator.")
    stream = selectors.latest_stream_of(host)
    context = {"host": host, "host_name": selectors.display_name(host), "stream": stream, "viewer": viewer}
    if stream is None:
        return render(request, "streaming/room.html", {**context, "state": "never"}, status=404 if viewer is None or viewer.pk != host.pk else 200)
    is_host = viewer is not None and viewer.pk == host.pk
    context.update({
        "is_host": is_host,
        "can_moderate": viewer is not None and selectors.can_moderate(stream, viewer),
        "goal": selectors.goal_progress(stream),
        "viewers": selectors.viewer_count(stream),
        "client_key": uuid.uuid4().hex,
        "chat_settings": services.chat_settings(stream),
        "slow_options": [0, 3, 5, 10, 30, 60, 120],
    })
    if stream.status == StreamStatus.ENDED:
        context["state"] = "ended"
        if is_host:
            context["summary"] = stream.summary
        return render(request, "streaming/room.html", context)
    if viewer is None:
        context["state"] = "signed_out"
        return render(request, "streaming/room.html", context)
    try:
        standing = selectors.standing_of(stream, viewer)  # one read for admission and the chat's standing
        context["role"] = services.admit(stream, viewer, standing=standing)
        context["state"] = "watching"
        context["chat"] = selectors.recent_chat(stream)
        if context["role"] == "viewer":
            context["standing"] = services.chat_standing(stream, viewer, standing=standing)
    except DomainError as exc:
        context["state"] = "refused"
        context["refusal"] = {"code": exc.code, "message": exc.message}
    return render(request, "streaming/room.html", context)


def _live_stream_of(username):
    host = _host(username)
    stream = selectors.current_stream_of(host)
    if stream is None:
        raise Http404("Not live.")
    return stream


def _done(request, username, exc: DomainError | None = None, ok: str = ""):
    if exc is not None:
        messages.error(request, exc.message)
    elif ok:
        messages.success(request, ok)
    return redirect("streaming:room", username=username)


@login_required
@require_POST
def end(request, username):
    stream = _live_stream_of(username)
    try:
        services.end_stream(stream_id=stream.pk, actor=request.user)
    except DomainError as exc:
        return _done(request, username, exc)
    return _done(request, username, ok="Your stream has ended.")


@login_required
@require_POST
def buy_ticket(request, username):
    stream = _live_stream_of(username)
    try:
        services.join_stream(stream_id=stream.pk, user=request.user)
    except DomainError as exc:
        return _done(request, username, exc)
    return _done(request, username, ok=f"Ticket bought: {stream.ticket_price} tokens.")


@login_required
@require_POST
def tip(request, username):
    stream = _live_stream_of(username)
    try:
        amount = int(request.POST.get("amount") or "")
    except ValueError:
        amount = 0
    try:
        tip_row, created = services.send_tip(stream_id=stream.pk, tipper=request.user, amount=amount,
                                             message=request.POST.get("message") or "", client_key=request.POST.get("client_key") or "")
    except DomainError as exc:
        return _done(request, username, exc)
    return _done(request, username, ok=f"You tipped {tip_row.amount} tokens." if created else "That tip was already sent.")


@login_required
@require_POST
def chat(request, username):
    stream = _live_stream_of(username)
    try:
        services.send_chat(stream_id=stream.pk, user=request.user, text=request.POST.get("text"), client_key=request.POST.get("client_key") or "")
    except DomainError as exc:
        return _done(request, username, exc)
    return redirect("streaming:room", username=username)


@login_required
def summary(request, stream_id):
    stream = get_object_or_404(LiveStream.objects.select_related("host"), pk=stream_id, host=request.user)
    if stream.status != StreamStatus.ENDED:
        return redirect("streaming:room", username=request.user.username)
    return render(request, "streaming/summary.html", {"stream": stream, "summary": stream.summary})
