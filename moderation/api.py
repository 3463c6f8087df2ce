"""Moderation over the API.

- ``/api/reports/``: anyone signed in files a report and lists their own.
- ``/api/staff/reports/...``: the moderators' queue and actions
  (``moderation.moderate_report``); anyone else gets 404.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from digis.api import error_body
from digis.console import ConsoleAPIView
from digis.errors import InvalidInput
from digis.pagination import StrictCursorPagination
from moderation import selectors, services
from moderation.exceptions import ReportRateLimited
from moderation.models import Report, ReportReason, TargetKind

PERMISSION = services.PERMISSION
NOT_FOUND = OpenApiResponse(description="Not found (also: not a moderator).")


class ReportPersonSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    username = serializers.CharField()


class ReportSerializer(serializers.ModelSerializer):
    """A report as the person who filed it sees it."""

    target_username = serializers.CharField(source="target_user.username")

    class Meta:
        model = Report
        fields = ["id", "target_kind", "target_id", "target_username", "reason", "note", "status", "outcome", "created_at", "resolved_at"]


class FileReportSerializer(serializers.Serializer):
    target_kind = serializers.ChoiceField(choices=TargetKind.choices)
    target_id = serializers.CharField(max_length=64, help_text="The target's id (a user's id or username for user/profile).")
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class OwnReportsPagination(StrictCursorPagination):
    page_size = 20
    max_page_size = 100
    ordering = ("-created_at", "-id")


class RateLimitedSerializer(serializers.Serializer):
    error = serializers.DictField()


class ReportListView(APIView):
    """GET: the reports you filed, newest first. POST: report a user, a creator
    profile, a message or a live stream."""

    serializer_class = ReportSerializer
    pagination_class = OwnReportsPagination  # what the schema shows; get() pages with it

    @extend_schema(operation_id="reports_list", responses=ReportSerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.reports_of(request.user), request, view=self)
        return paginator.get_paginated_response(ReportSerializer(page, many=True).data)

    @extend_schema(
        operation_id="reports_create",
        request=FileReportSerializer,
        responses={
            201: ReportSerializer,
            200: OpenApiResponse(ReportSerializer, description="You already have an open report on this target: that one."),
            400: OpenApiResponse(description="invalid / invalid_report"),
            404: OpenApiResponse(description="report_target_not_found (also: yourself)"),
            429: OpenApiResponse(RateLimitedSerializer, description="report_rate_limited, with retry_after seconds"),
        },
    )
    def post(self, request):
        data = FileReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            report = services.file_report(reporter=request.user, **data.validated_data)
        except ReportRateLimited as exc:
            body = error_body(code=exc.code, message=exc.message, **exc.extra)
            return Response(body, status=429, headers={"Retry-After": str(exc.extra.get("retry_after", 60))})
        created = getattr(report, "created_now", False)
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- the moderators' side ------------------------------------------------------------


class StaffReportSerializer(serializers.ModelSerializer):
    reporter = ReportPersonSerializer()
    target_user = ReportPersonSerializer()
    assigned_to = ReportPersonSerializer(allow_null=True)
    resolved_by = ReportPersonSerializer(allow_null=True)
    reports_on_target = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id", "target_kind", "target_id", "target_user", "reporter", "reason", "note", "status", "outcome",
            "assigned_to", "assigned_at", "created_at", "resolved_at", "resolved_by", "reports_on_target",
        ]

    def get_reports_on_target(self, report) -> int:
        return Report.objects.filter(target_kind=report.target_kind, target_id=report.target_id).count()


class HistorySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    resolved = serializers.IntegerField()
    dismissed = serializers.IntegerField()
    recent = ReportSerializer(many=True)


class AuditSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    reason = serializers.CharField()
    before = serializers.JSONField()
    after = serializers.JSONField()
    created_at = serializers.DateTimeField()


class StaffReportDetailSerializer(serializers.Serializer):
    report = StaffReportSerializer()
    content = serializers.JSONField(allow_null=True, help_text="What the target's app shows moderators; null if it has no preview.")
    hidden = serializers.BooleanField()
    payouts_frozen = serializers.BooleanField()
    reporter_history = HistorySerializer()
    reported_history = HistorySerializer()
    other_reports = StaffReportSerializer(many=True)
    audit = AuditSerializer(many=True)
    actions = serializers.ListField(child=serializers.ChoiceField(choices=services.ACTIONS))


class QueuePagination(PageNumberPagination):
    page_size = 50


QUEUE_PARAMETERS = [
    OpenApiParameter("status", str, enum=list(selectors.QUEUE_STATUSES), description="Default: active (open or in review)."),
    OpenApiParameter("target_kind", str, enum=TargetKind.values),
    OpenApiParameter("assigned", str, enum=["me", "none"]),
]


def parse_queue_filters(params) -> dict:
    status_ = params.get("status") or "active"
    if status_ not in selectors.QUEUE_STATUSES:
        raise InvalidInput("Unknown status.", fields={"status": [f"One of: {', '.join(selectors.QUEUE_STATUSES)}."]}, code="invalid_filter")
    kind = params.get("target_kind") or None
    if kind is not None and kind not in TargetKind.values:
        raise InvalidInput("Unknown target kind.", fields={"target_kind": [f"One of: {', '.join(TargetKind.values)}."]}, code="invalid_filter")
    assigned = params.get("assigned") or None
    if assigned not in (None, "me", "none"):
        raise InvalidInput("assigned is me or none.", fields={"assigned": ["me or none."]}, code="invalid_filter")
    return {"status": status_, "target_kind": kind, "assigned": assigned}


class StaffReportListView(ConsoleAPIView):
    """The moderators' queue, oldest waiting first."""

    required_permission = PERMISSION
    serializer_class = StaffReportSerializer
    pagination_class = QueuePagination

    @extend_schema(operation_id="staff_reports_list", parameters=QUEUE_PARAMETERS,
                   responses={200: StaffReportSerializer(many=True), 400: OpenApiResponse(description="invalid_filter"), 404: NOT_FOUND})
    def get(self, request):
        filters = parse_queue_filters(request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.queue(**filters, moderator=request.user), request, view=self)
        return paginator.get_paginated_response(StaffReportSerializer(page, many=True).data)


def report_detail(report: Report, moderator) -> dict:
    return {
        "report": report,
        "content": selectors.describe_target(report),
        "hidden": selectors.is_hidden(report.target_kind, report.target_id),
        "payouts_frozen": selectors.payouts_frozen(report.target_user),
        "reporter_history": selectors.reporter_history(report.reporter, exclude=report),
        "reported_history": selectors.reported_history(report.target_user, exclude=report),
        "other_reports": list(selectors.other_reports_on_target(report)[:20]),
        "audit": selectors.audit_trail(report),
        "actions": selectors.available_actions(report, moderator=moderator),
    }


class StaffReportDetailView(ConsoleAPIView):
    """One report with the reported content, both people's history, what was done, and what can be done."""

    required_permission = PERMISSION
    serializer_class = StaffReportDetailSerializer

    @extend_schema(operation_id="staff_reports_detail", responses={200: StaffReportDetailSerializer, 404: NOT_FOUND})
    def get(self, request, id):
        report = selectors.report_for_moderator(report_id=id, moderator=request.user)
        return Response(StaffReportDetailSerializer(report_detail(report, request.user)).data)


class AssignSerializer(serializers.Serializer):
    take_over = serializers.BooleanField(default=False, help_text="Take it from the moderator who holds it.")
    release = serializers.BooleanField(default=False, help_text="Put it back in the queue.")


class StaffReportAssignView(ConsoleAPIView):
    """Assign the report to yourself (it moves to in review), or release it."""

    required_permission = PERMISSION
    serializer_class = StaffReportSerializer

    @extend_schema(operation_id="staff_reports_assign", request=AssignSerializer,
                   responses={200: StaffReportSerializer, 404: NOT_FOUND, 409: OpenApiResponse(description="report_taken / report_closed")})
    def post(self, request, id):
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.assign_report(actor=request.user, report_id=id, **data.validated_data)
        return Response(StaffReportSerializer(selectors.report_for_moderator(report_id=report.pk, moderator=request.user)).data)


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[(a, services.ACTION_LABELS[a]) for a in services.ACTIONS])
    reason = serializers.CharField(max_length=2000, help_text="Why (goes to the audit log).")
    days = serializers.IntegerField(required=False, min_value=1, max_value=services.MAX_SUSPENSION_DAYS, help_text="For suspend.")
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="",
                                    help_text="An optional note passed on to the reported person.")


class StaffReportActionView(ConsoleAPIView):
    """Act on a report: dismiss, warn, hide, restore, suspend, ban, freeze or unfreeze payouts, refund buyers.
    One transaction: the effect, every open report on the target resolved, an audit row, the messages."""

    required_permission = PERMISSION
    serializer_class = StaffReportSerializer

    @extend_schema(
        operation_id="staff_reports_act",
        request=ActionSerializer,
        responses={
            200: StaffReportSerializer,
            400: OpenApiResponse(description="invalid / reason_required / invalid_suspension"),
            403: OpenApiResponse(description="forbidden: e.g. only an administrator may ban staff"),
            404: NOT_FOUND,
            409: OpenApiResponse(description="action_not_available / report_closed / not_hidden / not_frozen / own_report"),
        },
    )
    def post(self, request, id):
        data = ActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.take_action(actor=request.user, report_id=id, **data.validated_data)
        return Response(StaffReportSerializer(selectors.report_for_moderator(report_id=report.pk, moderator=request.user)).data)

