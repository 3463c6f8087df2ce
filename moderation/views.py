"""Moderation pages: reporting (anyone signed in) and the moderators' queue.

Plain forms that post to services; everything works without JavaScript. The
queue's pages answer 404 to anyone without ``moderation.moderate_report``.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from digis.console import console_page
from digis.errors import DomainError
from moderation import api, selectors, services
from moderation.exceptions import ReportNotFound
from moderation.models import ReportReason, TargetKind

PERMISSION = services.PERMISSION


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


# --- reporting ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def new_report(request):
    """GET: the report form for ?kind=&target=. POST: file it."""
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind") or ""
    target = (source.get("target") or "").strip()[:64]
    context = {
        "kind": kind, "target": target, "reasons": ReportReason.choices, "next": _safe_next(request, ""),
        "kind_label": dict(TargetKind.choices).get(kind, ""), "reason": source.get("reason") or "", "note": source.get("note") or "",
    }
    if kind not in TargetKind.values or not target:
        return render(request, "moderation/report_form.html", {**context, "error": "What do you want to report?"}, status=400)
    if request.method == "GET":
        return render(request, "moderation/report_form.html", context)
    try:
        services.file_report(reporter=request.user, target_kind=kind, target_id=target, reason=context["reason"], note=context["note"])
    except DomainError as exc:
        return render(request, "moderation/report_form.html", {**context, "error": exc.message}, status=exc.status_code)
    messages.success(request, "Thank you. A moderator will review your report; you will hear what they decide.")
    return redirect(_safe_next(request, reverse("moderation:mine")))


@login_required
def my_reports(request):
    page = Paginator(selectors.reports_of(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "moderation/my_reports.html", {"page": page})


# --- the moderators' queue -----------------------------------------------------------


@console_page(PERMISSION)
def queue(request):
    try:
        filters = api.parse_queue_filters(request.GET)
    except DomainError:
        filters = {"status": "active", "target_kind": None, "assigned": None}
    page = Paginator(selectors.queue(**filters, moderator=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "moderation/queue.html", {
        "page": page,
        "filters": filters,
        "statuses": [(s, s.replace("_", " ").capitalize()) for s in selectors.QUEUE_STATUSES],
        "kinds": TargetKind.choices,
        "counts": selectors.queue_counts(),
        "filter_query": urlencode({key: value for key, value in filters.items() if value}),
    })


@console_page(PERMISSION)
def report_page(request, report_id):
    try:
        report = selectors.report_for_moderator(report_id=report_id, moderator=request.user)
    except ReportNotFound:
        raise Http404("No such report.")
    detail = api.report_detail(report, request.user)
    return render(request, "moderation/report.html", {
        **detail,
        "content_facts": _facts(detail["content"]),
        "action_labels": services.ACTION_LABELS,
        "is_mine": report.assigned_to_id == request.user.pk,
    })


def _facts(content: dict | None) -> list[tuple[str, str]]:
    """The preview's short facts as label/value pairs ("hidden": True -> "Hidden", "Yes")."""
    if not content:
        return []
    facts = []
    for key, value in content.items():
        if key in ("title", "text", "url"):
            continue
        if isinstance(value, bool):
            value = "Yes" if value else "No"
        facts.append((key.replace("_", " ").capitalize(), value))
    return facts


@console_page(PERMISSION)
@require_POST
def assign(request, report_id):
    try:
        services.assign_report(
            actor=request.user, report_id=report_id,
            take_over=request.POST.get("take_over") == "1", release=request.POST.get("release") == "1",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("moderation:report", report_id=report_id)


@console_page(PERMISSION)
@require_POST
def act(request, report_id):
    days = request.POST.get("days") or None
    try:
        days = int(days) if days is not None else None
    except ValueError:
        days = -1  # the service answers with the friendly message
    action = request.POST.get("action") or ""
    try:
        services.take_action(
            actor=request.user, report_id=report_id, action=action,
            reason=request.POST.get("reason") or "", days=days, message=request.POST.get("message") or "",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Done: {services.ACTION_LABELS.get(action, action).lower()}. Everyone involved has been told.")
    return redirect("moderation:report", report_id=report_id)
