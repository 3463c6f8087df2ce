"""Every write to moderation: filing reports (the console's workflow builds on it).

Apps make their content reportable by registering a resolver for its target
kind (``register_target``): given an id and the reporter, it returns
``(owner, canonical_id)``: the user whose content it is and the id to file it
under, or raises a NotFound when the reporter may not see it.
"""

from collections.abc import Callable

from django.db import IntegrityError, transaction

from moderation.exceptions import InvalidReport, UnknownTarget
from moderation.models import Report, ReportReason, ReportStatus, TargetKind

# kind -> resolver(target_id: str, reporter) -> (owner: User, canonical target id: str)
_resolvers: dict[str, Callable] = {}


def register_target(kind: str, resolver: Callable) -> None:
    """Called from an app's ``AppConfig.ready``: how to find who owns a target of ``kind``."""
    if kind not in TargetKind.values:
        raise ValueError(f"unknown report target kind {kind!r}")
    _resolvers[kind] = resolver


def _resolve_user(target_id: str, reporter):
    from accounts.models import User

    user = User.objects.filter(pk=target_id, deleted_at__isnull=True).first() if _is_uuid(target_id) else None
    if user is None:
        user = User.objects.filter(username__iexact=target_id, deleted_at__isnull=True).first()
    if user is None:
        raise UnknownTarget()
    return user, str(user.pk)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


register_target(TargetKind.USER, _resolve_user)
register_target(TargetKind.PROFILE, _resolve_user)


def file_report(*, reporter, target_kind: str, target_id: str, reason: str, note: str = "") -> Report:
    """File a report. Idempotent per reporter and target while the report is open.

    The target must exist and be visible to the reporter (else UnknownTarget,
    404); reporting yourself is refused the same way.
    """
    if reason not in ReportReason.values:
        raise InvalidReport(fields={"reason": [f"Choose one of: {', '.join(ReportReason.values)}."]})
    resolver = _resolvers.get(target_kind)
    if resolver is None:
        raise UnknownTarget()
    target_id = str(target_id)[:64]
    if "\x00" in target_id:
        raise UnknownTarget()
    owner, target_id = resolver(target_id, reporter)
    if owner.pk == reporter.pk:
        raise UnknownTarget("You cannot report yourself.")
    open_report = Report.objects.filter(
        reporter=reporter,
        target_kind=target_kind,
        target_id=target_id,
        status__in=[ReportStatus.OPEN, ReportStatus.IN_REVIEW],
    )
    existing = open_report.first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Report.objects.create(
                reporter=reporter,
                target_kind=target_kind,
                target_id=target_id,
                target_user=owner,
                reason=reason,
                note=(note or "")[:2000],
            )
    except IntegrityError:  # a concurrent second click
        return open_report.get()
