"""The console's analytics over the API: the dashboard's numbers as JSON.

Staff group only (``analytics.view_dashboard``); anyone else gets 404.
"""

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from analytics import selectors
from digis.console import ConsoleAPIView

PERIOD_PARAMETERS = [
    OpenApiParameter("period", str, enum=[*selectors.PERIODS, "custom"], description="Default 7d."),
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (period=custom)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (period=custom; default today)."),
    OpenApiParameter("grain", str, enum=list(selectors.GRAINS), description="Revenue series per day, week or month."),
]
NOT_FOUND = OpenApiResponse(description="Not found (also: not staff).")
BAD_PERIOD = OpenApiResponse(description="invalid_period, invalid_date or invalid_grain.")


def _plain(value):
    """Dates and nested structures -> JSON-friendly values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, selectors.Period):
        return {"start": value.start.isoformat(), "end": value.end.isoformat(), "days": value.days, "key": value.key}
    return value


RightNowSerializer = inline_serializer(
    "RightNow",
    {
        "users_online": serializers.IntegerField(),
        "live_calls": serializers.IntegerField(),
        "calls_ringing": serializers.IntegerField(),
        "live_streams": serializers.IntegerField(),
    },
)


class RightNowView(ConsoleAPIView):
    """Users online, live calls, calls ringing, live streams: exact, read now."""

    required_permission = "analytics.view_dashboard"

    @extend_schema(operation_id="staff_analytics_now", responses={200: RightNowSerializer, 404: NOT_FOUND})
    def get(self, request):
        return Response(selectors.right_now())


class DashboardView(ConsoleAPIView):
    """Everything on the dashboard for a period of days, with the previous period of equal length."""

    required_permission = "analytics.view_dashboard"

    @extend_schema(
        operation_id="staff_analytics_dashboard",
        parameters=PERIOD_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT, 400: BAD_PERIOD, 404: NOT_FOUND},
    )
    def get(self, request):
        period = selectors.parse_period(request.query_params)
        grain = selectors.parse_grain(request.query_params, period)
        data = selectors.dashboard(period, grain=grain)
        data["right_now"] = selectors.right_now()
        return Response(_plain(data))
