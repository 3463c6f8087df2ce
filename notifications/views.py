"""Pages: the notifications list, notification settings, and the installable app's pieces
(web app manifest, service worker, offline page).

The list and the settings work without JavaScript (plain links and forms);
``static/notifications/*.js`` adds the live bell and web push.
"""

import hashlib
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from digis.errors import DomainError
from notifications import kinds, selectors, services, webpush
from notifications.models import Channel, NotificationKind

PAGE_SIZE = 30


def _safe_local(url: str, request) -> str:
    if url and url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return ""


@login_required
@require_GET
def notification_list(request):
    """Newest first, PAGE_SIZE at a time; ``?before=<id>`` continues after that notification."""
    rows = selectors.notifications_of(request.user)
    before = request.GET.get("before", "")
    if before:
        try:
            anchor = selectors.notification_of(request.user, before)
        except Exception:  # a malformed id
            anchor = None
        if anchor is None:
            return HttpResponseBadRequest("That page link is not valid.")
        rows = rows.filter(created_at__lte=anchor.created_at).exclude(created_at=anchor.created_at, id__gte=anchor.id)
    page = list(rows[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return render(
        request,
        "notifications/list.html",
        {
            "notifications": page,
            "older": page[-1].pk if more else None,
            "unread": selectors.unread_count(request.user.pk),
        },
    )


@login_required
@require_POST
def mark_read(request, id):
    try:
        services.mark_read(user=request.user, notification_id=id)
    except DomainError:
        raise Http404("No such notification.")
    return redirect(_safe_local(request.POST.get("next", ""), request) or "notifications:list")


@login_required
@require_POST
def mark_all_read(request):
    marked = services.mark_all_read(user=request.user)
    messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read." if marked else "Nothing was unread.")
    return redirect("notifications:list")


@login_required
@require_GET
def open_notification(request, id):
    """Mark it read and go where it points (a click in the list, in a push or in an e-mail).

    A GET that marks read, like any inbox's link: harmless to repeat, and it
    is what a notification's link must do when it is followed from outside
    the page (push, e-mail).
    """
    try:
        notification = services.mark_read(user=request.user, notification_id=id)
    except DomainError:
        raise Http404("No such notification.")
    return redirect(_safe_local(notification.url, request) or "notifications:list")


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request):
    """Which kinds reach you on which channel, the message filters, and this browser's web push."""
    if request.method == "POST":
        chosen = {
            kind: {channel: f"{kind}:{channel}" in request.POST for channel in Channel.values}
            for kind in NotificationKind.values
        }
        services.update_preferences(
            user=request.user,
            kinds_channels=chosen,
            filter_not_following="filter_not_following" in request.POST,
            filter_never_paid="filter_never_paid" in request.POST,
        )
        messages.success(request, "Your notification settings are saved.")
        return redirect("notifications:settings")
    prefs = services.preferences_of(request.user)
    rows = [
        {
            "kind": kind,
            "title": kinds.policy(kind).title,
            "description": kinds.policy(kind).description,
            "channels": [
                {
                    "channel": channel,
                    "label": Channel(channel).label,
                    "on": prefs["kinds"][kind][channel],
                    "locked": channel in kinds.policy(kind).locked,
                }
                for channel in Channel.values
            ],
        }
        for kind in NotificationKind.values
    ]
    return render(
        request,
        "notifications/settings.html",
        {
            "rows": rows,
            "channels": [Channel(channel).label for channel in Channel.values],
            "prefs": prefs,
            "push_enabled": webpush.is_configured(),
            "vapid_public_key": settings.VAPID_PUBLIC_KEY if webpush.is_configured() else "",
            "subscriptions": selectors.push_subscriptions_of(request.user),
        },
    )


@login_required
@require_POST
def remove_push_subscription(request, id):
    try:
        services.unsubscribe_push(user=request.user, subscription_id=id)
    except DomainError:
        raise Http404("No such device.")
    messages.success(request, "Push is off for that device.")
    return redirect("notifications:settings")


# --- the installable app -----------------------------------------------------------

ICONS = [
    ("notifications/icons/icon-192.png", "192x192", "any"),
    ("notifications/icons/icon-512.png", "512x512", "any"),
    ("notifications/icons/maskable-512.png", "512x512", "maskable"),
]


@require_GET
@cache_control(max_age=3600)
def manifest(request):
    """The web app manifest: what "install" / "add to home screen" uses."""
    body = {
        "id": "/",
        "name": "Digis",
        "short_name": "Digis",
        "description": "Pay-per-minute calls, paid messages and live streams with your favourite creators.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#0f0e15",
        "theme_color": "#7c3aed",
        "icons": [{"src": static(path), "sizes": sizes, "type": "image/png", "purpose": purpose} for path, sizes, purpose in ICONS],
    }
    return JsonResponse(body, content_type="application/manifest+json")


def shell_urls() -> list[str]:
    """What the service worker keeps for offline use: public static files and the offline page, nothing private."""
    return [
        "/offline/",
        static("css/app.css"),
        static("notifications/notifications.css"),
        static("js/theme-init.js"),
        static("js/theme.js"),
        static("notifications/pwa.js"),
        static("img/logo.svg"),
        *[static(path) for path, _, _ in ICONS],
    ]


@require_GET
def service_worker(request):
    """/sw.js, served from the site root so its scope is the whole site.

    Its cache name is a hash of the shell's URLs (hashed file names in
    production) and of this script, so a deploy that changes either installs
    a new worker and drops the old cache.
    """
    source = render_to_string("notifications/sw.js", {"shell_json": json.dumps(shell_urls())})
    source = source.replace("__SHELL_VERSION__", hashlib.sha256(source.encode()).hexdigest()[:12])
    response = HttpResponse(source, content_type="text/javascript; charset=utf-8")
    # Browsers check for a new worker at most daily anyway; never let a proxy keep an old one.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request):
    """The page the service worker shows when the network is down.

    Rendered without the request (no user, no CSRF token, no messages): it
    is cached on the device and shown to whoever uses it later.
    """
    response = HttpResponse(render_to_string("notifications/offline.html"))
    response["Cache-Control"] = "no-cache"
    return response
