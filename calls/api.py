"""Calls API: ring, answer, hang up, media token, history. Only the two parties see or touch a call."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import selectors, services
from calls.models import CallKind, CallSession
from digis import fields
from digis.pagination import StrictCursorPagination
from digis.schema import cursor_page, cursor_parameters


class PartySerializer(serializers.Serializer):
    id = fields.UUIDField(source="pk")
    username = fields.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class CallSerializer(serializers.ModelSerializer):
    fan = PartySerializer()
    creator = PartySerializer()
    receipt = serializers.SerializerMethodField()

    class Meta:
        model = CallSession
        fields = [
            "id", "kind", "status", "end_reason", "rate", "min_minutes", "fan", "creator",
            "requested_at", "accepted_at", "active_at", "ended_at", "receipt",
        ]

    def get_receipt(self, call) -> dict | None:
        return services.receipt_of(call) if call.settled_at else None


def call_summary(call) -> dict:
    return CallSerializer(call).data


class RequestCallSerializer(serializers.Serializer):
    creator = fields.CharField(max_length=150, help_text="The creator's username or id.")
    kind = fields.ChoiceField(choices=CallKind.choices)


class CallHistoryPagination(StrictCursorPagination):
    page_size = 20
    max_page_size = 100
    ordering = ("-requested_at", "-id")


class CallListView(APIView):
    """GET: your calls, newest first, with receipts (cursor pages). POST: ring a creator."""

    serializer_class = CallSerializer

    @extend_schema(
        operation_id="calls_list",
        parameters=cursor_parameters(max_page_size=CallHistoryPagination.max_page_size),
        responses=cursor_page(CallSerializer, name="CallPage"),
    )
    def get(self, request):
        paginator = CallHistoryPagination()
        page = paginator.paginate_queryset(selectors.call_history(request.user), request, view=self)
        return paginator.get_paginated_response(CallSerializer(page, many=True).data)

    @extend_schema(
        request=RequestCallSerializer,
        responses={
            201: CallSerializer,
            402: OpenApiResponse(description="insufficient_funds: the balance does not cover the minimum (`shortfall`, `buy_url`)."),
            404: OpenApiResponse(description="creator_not_found"),
            409: OpenApiResponse(description="creator_offline, creator_busy, creator_dnd or already_in_call"),
            403: OpenApiResponse(description="blocked"),
        },
    )
    def post(self, request):
        data = RequestCallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        call = services.request_call(fan=request.user, creator=data.validated_data["creator"], kind=data.validated_data["kind"])
        call = selectors.call_for_party(call_id=call.pk, user=request.user)
        return Response(call_summary(call), status=status.HTTP_201_CREATED)


class CallDetailView(APIView):
    serializer_class = CallSerializer

    @extend_schema(responses=CallSerializer)
    def get(self, request, id):
        return Response(call_summary(selectors.call_for_party(call_id=id, user=request.user)))


class CallActionView(APIView):
    """POST /api/calls/{id}/<action>/: one state change by one party."""

    serializer_class = CallSerializer
    action = None

    @extend_schema(
        request=None,
        responses={200: CallSerializer, 409: OpenApiResponse(description="call_not_live, or the call is not in a state that allows this")},
    )
    def post(self, request, id):
        media = None
        if self.action == "accept":
            _, media = services.accept_call(call_id=id, user=request.user)
        elif self.action == "decline":
            services.decline_call(call_id=id, user=request.user)
        elif self.action == "cancel":
            services.cancel_call(call_id=id, user=request.user)
        elif self.action == "end":
            services.end_call(call_id=id, user=request.user)
        body = call_summary(selectors.call_for_party(call_id=id, user=request.user))
        if media is not None:
            body["media"] = media
        return Response(body)


class CallTokenView(APIView):
    """POST: media credentials for this call (Agora token or WebRTC ICE servers); call again to renew."""

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 409: OpenApiResponse(description="call_not_live")})
    def post(self, request, id):
        from calls.media import rtc_credentials

        call = selectors.call_for_party(call_id=id, user=request.user)
        return Response(rtc_credentials(call=call, user=request.user))
