"""Reads of moderation: the moderators' queue, one report with its context, a
person's own reports, and the payout-freeze seam other apps read."""

from django.db.models import Count, Q, QuerySet

from moderation import services
from moderation.exceptions import ReportNotFound
from moderation.models import HiddenTarget, PayoutFreeze, Report, ReportStatus, TargetKind

QUEUE_STATUSES = ("open", "in_review", "resolved", "dismissed", "active", "all")


def payouts_frozen(user) -> bool:
    """Whether a moderator froze this user's payouts (the payouts app must not pay them out)."""
    user_id = getattr(user, "pk", user)
    return PayoutFreeze.objects.filter(user_id=user_id, lifted_at__isnull=True).exists()


def is_hidden(target_kind: str, target_id: str) -> bool:
    """Whether moderation hid this content (automatically or by decision)."""
    return HiddenTarget.objects.filter(target_kind=target_kind, target_id=str(target_id), restored_at__isnull=True).exists()


def reports_of(user) -> QuerySet[Report]:
    """The reports ``user`` filed, newest first. Nobody else's, ever."""
    return Report.objects.filter(reporter=user).select_related("target_user").order_by("-created_at", "-pk")


def queue(*, status: str = "active", target_kind: str | None = None, assigned: str | None = None, moderator=None) -> QuerySet[Report]:
    """The moderators' queue: oldest waiting first (decided reports: newest first).

    ``status``: active (open or in review; the default), open, in_review,
    resolved, dismissed or all. ``assigned``: "me", "none" or None (anyone).
    """
    reports = Report.objects.select_related("reporter", "target_user", "assigned_to")
    if status == "active":
        reports = reports.filter(status__in=services.OPEN_STATUSES).order_by("created_at", "pk")
    elif status == "all":
        reports = reports.order_by("-created_at", "-pk")
    else:
        reports = reports.filter(status=status)
        reports = reports.order_by("created_at", "pk") if status in services.OPEN_STATUSES else reports.order_by("-resolved_at", "-pk")
    if target_kind:
        reports = reports.filter(target_kind=target_kind)
    if assigned == "me" and moderator is not None:
        reports = reports.filter(assigned_to=moderator)
    elif assigned == "none":
        reports = reports.filter(assigned_to__isnull=True)
    return reports


def queue_counts() -> dict:
    rows = Report.objects.filter(status__in=services.OPEN_STATUSES).values_list("target_kind").annotate(n=Count("pk")).order_by()
    return {kind: n for kind, n in rows}


def report_for_moderator(*, report_id, moderator) -> Report:
    if not services.may_moderate(moderator):
        raise ReportNotFound()
    report = Report.objects.select_related("reporter", "target_user", "assigned_to", "resolved_by").filter(pk=report_id).first()
    if report is None:
        raise ReportNotFound()
    return report


def _history(reports: QuerySet[Report], limit: int = 10) -> dict:
    counts = dict(reports.values_list("status").annotate(n=Count("pk")).order_by())
    return {
        "total": sum(counts.values()),
        "open": counts.get(ReportStatus.OPEN, 0) + counts.get(ReportStatus.IN_REVIEW, 0),
        "resolved": counts.get(ReportStatus.RESOLVED, 0),
        "dismissed": counts.get(ReportStatus.DISMISSED, 0),
        "recent": list(reports.select_related("reporter", "target_user").order_by("-created_at", "-pk")[:limit]),
    }


def reporter_history(user, *, exclude=None) -> dict:
    """What else this person reported and how it was decided (many dismissals: a pattern)."""
    reports = Report.objects.filter(reporter=user)
    if exclude is not None:
        reports = reports.exclude(pk=exclude.pk)
    return _history(reports)


def reported_history(user, *, exclude=None) -> dict:
    """Reports about this person and what moderators did (warnings, hides, bans)."""
    from accounts.models import AuditEntry

    reports = Report.objects.filter(target_user=user)
    if exclude is not None:
        reports = reports.exclude(pk=exclude.pk)
    history = _history(reports)
    history["actions"] = list(
        AuditEntry.objects.filter(
            Q(target_type="accounts.user", target_id=str(user.pk), action__startswith="user.")
            | Q(target_type="moderation.report", target_id__in=[str(pk) for pk in Report.objects.filter(target_user=user).values_list("pk", flat=True)[:200]])
        ).select_related("actor").order_by("-created_at", "-id")[:15]
    )
    history["payouts_frozen"] = payouts_frozen(user)
    return history


def audit_trail(report: Report) -> list:
    """Everything done about this report, oldest first."""
    from accounts.models import AuditEntry

    return list(
        AuditEntry.objects.filter(target_type="moderation.report", target_id=str(report.pk)).select_related("actor").order_by("created_at", "id")
    )


def other_reports_on_target(report: Report) -> QuerySet[Report]:
    return (
        Report.objects.filter(target_kind=report.target_kind, target_id=report.target_id)
        .exclude(pk=report.pk)
        .select_related("reporter")
        .order_by("-created_at")
    )


def describe_target(report: Report) -> dict | None:
    hooks = services.hooks_for(report.target_kind)
    if hooks is None or hooks.describe is None:
        return None
    try:
        return hooks.describe(report.target_id)
    except Exception:  # a preview must never break the page that decides
        return {"title": f"{report.target_kind} {report.target_id}", "text": "The preview could not be loaded."}


def available_actions(report: Report, *, moderator=None) -> list[str]:
    """Which actions the console offers for this report now."""
    if moderator is not None and report.target_user_id == moderator.pk:
        return []
    hooks = services.hooks_for(report.target_kind)
    hidden = is_hidden(report.target_kind, report.target_id)
    frozen = payouts_frozen(report.target_user_id)
    actions = []
    if report.status in services.OPEN_STATUSES:
        actions.append("dismiss")
    actions.append("warn")
    if hooks is not None and hooks.hide is not None and not hidden:
        if report.target_kind in (TargetKind.USER, TargetKind.PROFILE):
            from creators.selectors import own_profile

            if own_profile(report.target_user) is not None:
                actions.append("hide")
        else:
            actions.append("hide")
    if hidden:
        actions.append("restore")
    if hooks is not None and hooks.refund is not None:
        actions.append("refund_buyers")
    if not report.target_user.is_banned:
        actions += ["suspend", "ban"]
    actions.append("lift_payout_freeze" if frozen else "freeze_payouts")
    return actions
