"""Every write to moderation: filing reports and the moderators' workflow.

Apps make their content reportable by registering its target kind
(``register_target``, from their ``AppConfig.ready``):

- ``resolver(target_id, reporter) -> (owner, canonical_id)``: the user whose
  content it is and the id to file it under; raises a NotFound when the
  reporter may not see it. Required.
- ``describe(target_id) -> dict | None``: what the moderator sees (``title``,
  ``text``, ``url``, ``hidden``, any other short facts); None when it is gone.
- ``hide(*, target_id, actor, reason)`` / ``unhide(...)``: take the content
  down or show it again. Idempotent; runs inside moderation's transaction, so
  no network I/O (put side effects in ``transaction.on_commit``). ``actor`` is
  None when reports hid it automatically.
- ``refund(*, target_id, actor, reason, idempotency_key) -> dict``: give the
  people who paid for the content their tokens back through the ledger, once
  under the key (a repeat is a no-op); returns ``{"refunds": n, "tokens": t}``.

Without ``hide`` the moderator cannot hide that kind (and reports never hide
it automatically); without ``refund`` there is nothing to refund.
``register_hooks(kind, ...)`` adds hooks to a kind registered elsewhere.

Every moderator action is one call here: it locks the report and every other
open report on the same target, does its one thing, resolves them together,
writes an audit row (actor, reason, before, after) and tells the reporters
and the reported person what happened, in words, all in one transaction.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min, Q
from django.utils import timezone

from moderation.exceptions import (
    ActionNotAvailable,
    InvalidAction,
    InvalidReport,
    ReportNotFound,
    ReportRateLimited,
    ReportTaken,
    UnknownTarget,
)
from moderation.models import HiddenTarget, PayoutFreeze, Report, ReportReason, ReportStatus, TargetKind

OPEN_STATUSES = (ReportStatus.OPEN, ReportStatus.IN_REVIEW)
PERMISSION = "moderation.moderate_report"
MAX_SUSPENSION_DAYS = 365


@dataclass
class TargetHooks:
    resolver: Callable
    describe: Callable | None = None
    hide: Callable | None = None
    unhide: Callable | None = None
    refund: Callable | None = None


_targets: dict[str, TargetHooks] = {}


def register_target(kind: str, resolver: Callable, *, describe=None, hide=None, unhide=None, refund=None) -> None:
    """Called from an app's ``AppConfig.ready``: how to find who owns a target of ``kind``
    (and, optionally, how to show it, hide it and refund it)."""
    if kind not in TargetKind.values:
        raise ValueError(f"unknown report target kind {kind!r}")
    _targets[kind] = TargetHooks(resolver=resolver, describe=describe, hide=hide, unhide=unhide, refund=refund)


def register_hooks(kind: str, *, describe=None, hide=None, unhide=None, refund=None) -> None:
    """Add hooks to a kind whose resolver is registered (or will be: the hooks are kept)."""
    if kind not in TargetKind.values:
        raise ValueError(f"unknown report target kind {kind!r}")
    hooks = _targets.get(kind) or TargetHooks(resolver=None)
    for name, value in (("describe", describe), ("hide", hide), ("unhide", unhide), ("refund", refund)):
        if value is not None:
            setattr(hooks, name, value)
    _targets[kind] = hooks


def hooks_for(kind: str) -> TargetHooks | None:
    hooks = _targets.get(kind)
    return hooks if hooks is not None and hooks.resolver is not None else None


# --- users and creator profiles (built in) ----------------------------------------------


def _resolve_user(target_id: str, reporter):
    from accounts.models import User

    user = User.objects.filter(pk=target_id, deleted_at__isnull=True).first() if _is_uuid(target_id) else None
    if user is None:
        user = User.objects.filter(username__iexact=target_id, deleted_at__isnull=True).first()
    if user is None:
        raise UnknownTarget()
    return user, str(user.pk)


def _resolve_profile(target_id: str, reporter):
    from creators.selectors import own_profile

    user, canonical = _resolve_user(target_id, reporter)
    if own_profile(user) is None:
        raise UnknownTarget("That person has no creator profile.")
    return user, canonical


def _describe_user(target_id: str) -> dict | None:
    from accounts.models import User
    from creators.selectors import own_profile

    user = User.objects.filter(pk=target_id).first() if _is_uuid(target_id) else None
    if user is None:
        return None
    profile = own_profile(user)
    facts = {
        "title": f"{user.public_name} (@{user.username})",
        "text": profile.bio if profile is not None else "",
        "url": f"/@{user.username}" if profile is not None else "",
        "hidden": bool(profile is not None and profile.hidden_at),
        "role": user.get_role_display(),
        "joined": user.created_at.date().isoformat(),
        "banned": user.is_banned,
    }
    if profile is not None:
        facts["display_name"] = profile.display_name
    return facts


def _hide_profile(*, target_id, actor, reason) -> None:
    from creators.services import set_profile_hidden

    if not set_profile_hidden(user_id=target_id, hidden=True):
        raise ActionNotAvailable("This person has no creator profile to hide; suspend or ban them instead.")


def _unhide_profile(*, target_id, actor, reason) -> None:
    from creators.services import set_profile_hidden

    set_profile_hidden(user_id=target_id, hidden=False)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


register_target(TargetKind.USER, _resolve_user, describe=_describe_user, hide=_hide_profile, unhide=_unhide_profile)
register_target(TargetKind.PROFILE, _resolve_profile, describe=_describe_user, hide=_hide_profile, unhide=_unhide_profile)


# --- filing a report ------------------------------------------------------------------


def _lock_users(*users) -> None:
    from accounts.models import User

    ids = sorted({user.pk for user in users}, key=str)
    list(User.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def _check_rate(reporter, now) -> None:
    limit = settings.MODERATION_REPORTS_PER_HOUR
    window_start = now - dt.timedelta(hours=1)
    recent = Report.objects.filter(reporter=reporter, created_at__gt=window_start)
    if limit >= 0 and recent.count() >= limit:
        oldest = recent.aggregate(first=Min("created_at"))["first"] or now
        retry_after = max(1, int((oldest + dt.timedelta(hours=1) - now).total_seconds()))
        raise ReportRateLimited(retry_after=retry_after)


def file_report(*, reporter, target_kind: str, target_id: str, reason: str, note: str = "") -> Report:
    """File a report. Idempotent per reporter and target while the report is open.

    The target must exist and be visible to the reporter (else UnknownTarget,
    404); reporting yourself is refused the same way. At most
    MODERATION_REPORTS_PER_HOUR new reports per reporter and hour
    (ReportRateLimited, 429). When MODERATION_AUTO_HIDE_REPORTS different
    people have open reports on content that can be hidden, it is hidden
    until a moderator reviews it. Reports about one person are filed one at a
    time (their row is locked), so concurrent reports hide it exactly once.
    """
    if reason not in ReportReason.values:
        raise InvalidReport(fields={"reason": [f"Choose one of: {', '.join(ReportReason.values)}."]})
    hooks = hooks_for(target_kind)
    if hooks is None:
        raise UnknownTarget()
    target_id = str(target_id)[:64]
    if "\x00" in target_id or not target_id.strip():
        raise UnknownTarget()
    owner, target_id = hooks.resolver(target_id, reporter)
    if owner.pk == reporter.pk:
        raise UnknownTarget("You cannot report yourself.")
    open_report = Report.objects.filter(
        reporter=reporter, target_kind=target_kind, target_id=target_id, status__in=OPEN_STATUSES
    )
    with transaction.atomic():
        _lock_users(reporter, owner)
        existing = open_report.first()
        if existing is not None:
            return existing
        now = timezone.now()
        _check_rate(reporter, now)
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    reporter=reporter,
                    target_kind=target_kind,
                    target_id=target_id,
                    target_user=owner,
                    reason=reason,
                    note=(note or "")[:2000],
                )
        except IntegrityError:  # a concurrent second click that did not wait on the lock
            return open_report.get()
        report.created_now = True  # the API answers 201 for a new report, 200 for the one already open
        _maybe_auto_hide(report, hooks)
    return report


def _maybe_auto_hide(report: Report, hooks: TargetHooks) -> None:
    from accounts.services import record_audit

    threshold = settings.MODERATION_AUTO_HIDE_REPORTS
    if threshold <= 0 or hooks.hide is None:
        return
    reporters = (
        Report.objects.filter(target_kind=report.target_kind, target_id=report.target_id, status__in=OPEN_STATUSES)
        .values("reporter_id").distinct().count()
    )
    if reporters < threshold or _active_hide(report.target_kind, report.target_id) is not None:
        return
    reason = f"Reported by {reporters} people; hidden until a moderator reviews it."
    try:
        with transaction.atomic():
            HiddenTarget.objects.create(
                target_kind=report.target_kind, target_id=report.target_id, target_user=report.target_user, automatic=True
            )
            hooks.hide(target_id=report.target_id, actor=None, reason=reason)
    except ActionNotAvailable:
        return  # e.g. a reported fan has no profile to hide: the queue has it
    record_audit(
        actor=None, action="moderation.auto_hide", target=report, reason=reason,
        before={"hidden": False}, after={"hidden": True, "reporters": reporters},
    )
    _notify(
        report.target_user,
        f"Your {_noun(report.target_kind)} is hidden for now: several people reported it. "
        "A moderator will review it and it comes back if it breaks no rules.",
        report, key="auto_hide",
    )


# --- the moderators' workflow ----------------------------------------------------------

ACTIONS = ("dismiss", "warn", "hide", "restore", "suspend", "ban", "freeze_payouts", "lift_payout_freeze", "refund_buyers")
ACTION_LABELS = {
    "dismiss": "Dismiss",
    "warn": "Warn",
    "hide": "Hide the content",
    "restore": "Show the content again",
    "suspend": "Suspend",
    "ban": "Ban",
    "freeze_payouts": "Freeze payouts",
    "lift_payout_freeze": "Lift the payout freeze",
    "refund_buyers": "Refund buyers",
}
NOUNS = {TargetKind.USER: "account", TargetKind.PROFILE: "creator profile", TargetKind.MESSAGE: "message", TargetKind.STREAM: "live stream"}


def _noun(kind: str) -> str:
    return NOUNS.get(kind, "content")


def may_moderate(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(PERMISSION))


def _require_moderator(actor) -> None:
    if not may_moderate(actor):
        raise ReportNotFound()


def _active_hide(kind: str, target_id: str) -> HiddenTarget | None:
    return HiddenTarget.objects.filter(target_kind=kind, target_id=target_id, restored_at__isnull=True).first()


def _active_freeze(user_id) -> PayoutFreeze | None:
    return PayoutFreeze.objects.filter(user_id=user_id, lifted_at__isnull=True).first()


def _notify(recipient, text: str, report: Report, *, key: str, actor=None) -> None:
    from notifications.models import NotificationKind
    from notifications.services import notify

    notify(
        recipient=recipient, kind=NotificationKind.MODERATION, text=text, actor=actor, target=report,
        url="/reports/" if recipient.pk == report.reporter_id else "",
        data={"report": str(report.pk), "outcome": report.outcome or key},
        dedupe_key=f"moderation:{report.pk}:{key}",
    )


def _lock_target_reports(report_id) -> tuple[Report, list[Report]]:
    """The report and every open report on the same target, locked in pk order."""
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        raise ReportNotFound()
    same_target = Q(target_kind=report.target_kind, target_id=report.target_id, status__in=OPEN_STATUSES)
    rows = list(
        Report.objects.select_for_update().filter(Q(pk=report.pk) | same_target).select_related("target_user", "reporter").order_by("pk")
    )
    report = next(row for row in rows if row.pk == report.pk)
    return report, [row for row in rows if row.status in OPEN_STATUSES]


def _state(report: Report, reports: list[Report]) -> dict:
    user = report.target_user
    user.refresh_from_db(fields=["banned_at", "banned_until"])
    hidden = _active_hide(report.target_kind, report.target_id)
    return {
        "reports": {str(r.pk): r.status for r in reports} or {str(report.pk): report.status},
        "hidden": hidden is not None,
        "hidden_automatically": bool(hidden and hidden.automatic),
        "banned_until": user.banned_until.isoformat() if user.banned_until else None,
        "banned": user.is_banned,
        "payouts_frozen": _active_freeze(user.pk) is not None,
    }


@dataclass
class Decision:
    """What one action did, for the resolution and the messages."""

    to_reported: str | None
    to_reporter: str
    status: str = ReportStatus.RESOLVED
    detail: dict | None = None


def take_action(*, actor, report_id, action: str, reason: str, days: int | None = None, message: str = "") -> Report:
    """Do ``action`` about a report (one of ACTIONS), as one transaction.

    Who: moderators (``moderation.moderate_report``); anyone else gets
    ReportNotFound, as if there were no such report. Nobody acts on reports
    about themselves. ``reason`` is required and goes to the audit log;
    ``message`` (optional) is passed on to the reported person. Every open
    report on the same target is resolved with this one. Raises
    ActionNotAvailable when the target's kind cannot do it (no hide or refund
    hook) or the state forbids it (restoring what is not hidden, dismissing
    what is already resolved).
    """
    from accounts.services import record_audit

    _require_moderator(actor)
    if action not in ACTIONS:
        raise InvalidAction(fields={"action": [f"One of: {', '.join(ACTIONS)}."]})
    if not (reason or "").strip():
        raise InvalidAction("Say why: the reason goes to the audit log.", fields={"reason": ["This field is required."]},
                            code="reason_required")
    if action == "suspend":
        if days is None or isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SUSPENSION_DAYS:
            raise InvalidAction("A suspension lasts 1 to 365 days.", fields={"days": ["1 to 365."]}, code="invalid_suspension")
    message = (message or "").strip()[:500]
    with transaction.atomic(durable=True):
        report, open_reports = _lock_target_reports(report_id)
        if report.target_user_id == actor.pk:
            raise ActionNotAvailable("Another moderator must decide reports about you.", code="own_report")
        hooks = _targets.get(report.target_kind) or TargetHooks(resolver=None)
        before = _state(report, open_reports)
        decision = _ACTIONS[action](actor=actor, report=report, hooks=hooks, reason=reason.strip(), days=days, note=message)
        now = timezone.now()
        # A dismissal or a warning means the content may stay: if reports hid
        # it automatically, it comes back.
        restored = False
        hidden = _active_hide(report.target_kind, report.target_id)
        if action in ("dismiss", "warn") and hidden is not None and hidden.automatic:
            _restore(hooks, report, hidden, actor, reason)
            restored = True
        elif action in ("hide", "refund_buyers", "suspend", "ban") and hidden is not None and hidden.automatic:
            HiddenTarget.objects.filter(pk=hidden.pk).update(automatic=False, hidden_by=actor)
        resolved = open_reports
        for row in resolved:
            Report.objects.filter(pk=row.pk, status__in=OPEN_STATUSES).update(
                status=decision.status, outcome=action, resolved_at=now, resolved_by=actor,
                assigned_to_id=row.assigned_to_id or actor.pk,
            )
        if report.pk not in {row.pk for row in resolved}:
            Report.objects.filter(pk=report.pk).update(outcome=action)
        for row in [report, *resolved]:
            row.refresh_from_db()
        after = _state(report, open_reports)
        if decision.detail:
            after["detail"] = decision.detail
        record_audit(actor=actor, action=f"moderation.{action}", target=report, reason=reason, before=before, after=after)
        # The reporters hear once, when their report is decided; the reported
        # person hears whenever something happened to them.
        for row in resolved:
            _notify(row.reporter, decision.to_reporter, row, key=f"resolved:{action}")
        to_reported = decision.to_reported
        if restored and to_reported is None:
            to_reported = f"Your {_noun(report.target_kind)} is visible again: a moderator reviewed the reports about it."
        if to_reported:
            to_reported = _with_note(to_reported, message)
            _notify(report.target_user, to_reported, report, key=f"{action}:{uuid.uuid4().hex[:8]}")
    return report


def _with_note(text: str, note: str) -> str:
    return f"{text} Moderator's note: {note}" if note else text


def _what(report: Report) -> str:
    reason = report.get_reason_display().lower()
    return f"your {_noun(report.target_kind)} (reported for {reason})"


def _subject(report: Report) -> str:
    user = report.target_user
    if report.target_kind in (TargetKind.USER, TargetKind.PROFILE):
        return f"@{user.username}"
    return f"a {_noun(report.target_kind)} by @{user.username}"


def _dismiss(*, actor, report, hooks, reason, days, note):
    if report.status not in OPEN_STATUSES:
        raise ActionNotAvailable("This report is already decided.", code="report_closed")
    return Decision(
        to_reported=None,
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and found it breaks no rules, so nothing was changed.",
        status=ReportStatus.DISMISSED,
    )


def _warn(*, actor, report, hooks, reason, days, note):
    return Decision(
        to_reported=f"A moderator reviewed {_what(report)} and is warning you: please follow the community rules. "
        "Further reports may lead to a suspension.",
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and warned them.",
    )


def _hide(*, actor, report, hooks, reason, days, note):
    if hooks.hide is None:
        raise ActionNotAvailable(f"A {_noun(report.target_kind)} cannot be hidden yet.")
    hidden = _active_hide(report.target_kind, report.target_id)
    if hidden is None:
        try:
            with transaction.atomic():
                HiddenTarget.objects.create(
                    target_kind=report.target_kind, target_id=report.target_id, target_user=report.target_user,
                    automatic=False, hidden_by=actor,
                )
        except IntegrityError:
            pass
    hooks.hide(target_id=report.target_id, actor=actor, reason=reason)
    return Decision(
        to_reported=f"A moderator reviewed {_what(report)} and took it down: it is no longer shown to anyone.",
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and removed the content.",
    )


def _restore(hooks, report, hidden, actor, reason) -> None:
    if hooks.unhide is not None:
        hooks.unhide(target_id=report.target_id, actor=actor, reason=reason)
    HiddenTarget.objects.filter(pk=hidden.pk, restored_at__isnull=True).update(restored_at=timezone.now(), restored_by=actor)


def _restore_action(*, actor, report, hooks, reason, days, note):
    hidden = _active_hide(report.target_kind, report.target_id)
    if hidden is None:
        raise ActionNotAvailable("This content is not hidden.", code="not_hidden")
    _restore(hooks, report, hidden, actor, reason)
    return Decision(
        to_reported=f"Your {_noun(report.target_kind)} is visible again after a moderator's review.",
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and found it breaks no rules.",
    )


def _suspend(*, actor, report, hooks, reason, days, note):
    from accounts.services import apply_ban

    until = timezone.now() + dt.timedelta(days=days)
    # The person is told by accounts' user_banned hook (notifications), in
    # these words: not the audit reason, and one notice, not two.
    notice = f"Your account is suspended for {days} day{'s' if days != 1 else ''} after a moderator reviewed {_what(report)}."
    apply_ban(actor=actor, user=report.target_user, reason=reason, until=until, notice=_with_note(notice, note))
    return Decision(
        to_reported=None,
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and took action against the account.",
        detail={"suspended_until": until.isoformat()},
    )


def _ban(*, actor, report, hooks, reason, days, note):
    from accounts.services import apply_ban

    notice = f"Your account is banned after a moderator reviewed {_what(report)}."
    apply_ban(actor=actor, user=report.target_user, reason=reason, until=None, notice=_with_note(notice, note))
    return Decision(
        to_reported=None,
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and took action against the account.",
    )


def _freeze(*, actor, report, hooks, reason, days, note):
    if _active_freeze(report.target_user_id) is None:
        try:
            with transaction.atomic():
                PayoutFreeze.objects.create(user=report.target_user, report=report, reason=reason, frozen_by=actor)
        except IntegrityError:
            pass
    for listener in _payout_freeze_listeners:
        listener(user=report.target_user, frozen=True, actor=actor, reason=reason)
    return Decision(
        to_reported="Your payouts are on hold while moderators review reports about your account. "
        "Your earnings stay in your wallet.",
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it and took action.",
    )


def _lift_freeze(*, actor, report, hooks, reason, days, note):
    freeze = _active_freeze(report.target_user_id)
    if freeze is None:
        raise ActionNotAvailable("Payouts are not frozen.", code="not_frozen")
    PayoutFreeze.objects.filter(pk=freeze.pk, lifted_at__isnull=True).update(lifted_at=timezone.now(), lifted_by=actor)
    for listener in _payout_freeze_listeners:
        listener(user=report.target_user, frozen=False, actor=actor, reason=reason)
    return Decision(
        to_reported="The hold on your payouts is lifted.",
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it.",
    )


def _refund(*, actor, report, hooks, reason, days, note):
    if hooks.refund is None:
        raise ActionNotAvailable(f"There is nothing to refund for a {_noun(report.target_kind)}.")
    outcome = hooks.refund(
        target_id=report.target_id, actor=actor, reason=reason,
        idempotency_key=f"moderation-refund:{report.target_kind}:{report.target_id}",
    ) or {}
    # Refunded content is taken down too: nobody should pay for it again.
    detail = {"refunds": int(outcome.get("refunds", 0)), "tokens": int(outcome.get("tokens", 0))}
    if hooks.hide is not None:
        _hide(actor=actor, report=report, hooks=hooks, reason=reason, days=days, note=note)
    return Decision(
        to_reported=f"A moderator reviewed {_what(report)}, took it down and refunded the {detail['refunds']} "
        f"purchase{'s' if detail['refunds'] != 1 else ''} of it ({detail['tokens']} tokens).",
        to_reporter=f"Thanks for your report about {_subject(report)}. A moderator reviewed it, removed the content and refunded its buyers.",
        detail=detail,
    )


_ACTIONS = {
    "dismiss": _dismiss,
    "warn": _warn,
    "hide": _hide,
    "restore": _restore_action,
    "suspend": _suspend,
    "ban": _ban,
    "freeze_payouts": _freeze,
    "lift_payout_freeze": _lift_freeze,
    "refund_buyers": _refund,
}


def assign_report(*, actor, report_id, take_over: bool = False, release: bool = False) -> Report:
    """Assign a report to yourself (it moves to "in review"), or release it.

    Compare-and-swap: a report another moderator holds is only taken with
    ``take_over`` (else ReportTaken, 409). Decided reports cannot be assigned.
    """
    from accounts.services import record_audit

    _require_moderator(actor)
    with transaction.atomic(durable=True):
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None:
            raise ReportNotFound()
        if report.status not in OPEN_STATUSES:
            raise ActionNotAvailable("This report is already decided.", code="report_closed")
        before = {"assigned_to": str(report.assigned_to_id) if report.assigned_to_id else None, "status": report.status}
        if release:
            if report.assigned_to_id not in (None, actor.pk) and not take_over:
                raise ReportTaken()
            Report.objects.filter(pk=report.pk).update(assigned_to=None, assigned_at=None, status=ReportStatus.OPEN)
        else:
            if report.assigned_to_id == actor.pk:
                return report
            if report.assigned_to_id is not None and not take_over:
                raise ReportTaken(f"@{report.assigned_to.username} is working on this report.")
            Report.objects.filter(pk=report.pk).update(
                assigned_to=actor, assigned_at=timezone.now(), status=ReportStatus.IN_REVIEW
            )
        report.refresh_from_db()
        if before["assigned_to"] not in (None, str(actor.pk)):
            record_audit(
                actor=actor, action="moderation.take_over", target=report, reason="Took over the report.",
                before=before, after={"assigned_to": str(report.assigned_to_id) if report.assigned_to_id else None},
            )
    return report


# --- payouts: the seam the payouts app reads -----------------------------------------

_payout_freeze_listeners: list[Callable] = []


def register_payout_freeze_listener(listener: Callable) -> None:
    """``listener(*, user, frozen: bool, actor, reason)`` runs inside the
    moderator's transaction when payouts are frozen or the freeze is lifted
    (the payouts app can hold requests already queued)."""
    if listener not in _payout_freeze_listeners:
        _payout_freeze_listeners.append(listener)
