"""Notifications API: your notifications, marking them read, your settings, web push subscriptions.

Everything here is about the signed-in person's own rows: another person's
notification or subscription is a 404, a malformed id a 400 ``invalid_id``.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from digis import fields
from digis.errors import InvalidInput
from digis.pagination import StrictCursorPagination
from digis.params import parse_uuid
from notifications import selectors, services, webpush
from notifications.models import Channel, NotificationKind, PushSubscription


class NotificationErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(help_text="Per-field messages (lists of strings, nested for nested fields).")
    request_id = serializers.CharField(allow_blank=True, allow_null=True)


class NotificationErrorSerializer(serializers.Serializer):
    """The one error body of digis.api.exception_handler."""

    error = NotificationErrorDetailSerializer()


def _errors(*statuses, **described) -> dict:
    texts = {
        400: "Malformed input (code in error.code, e.g. invalid_id).",
        401: "Not signed in.",
        403: "Not signed in (session without CSRF) or not allowed.",
        404: "Not yours, or no such thing.",
        409: "Web push is not configured on this server (push_not_configured).",
    }
    texts.update(described)
    return {code: OpenApiResponse(NotificationErrorSerializer, description=texts[code]) for code in statuses}


class NotificationSerializer(serializers.Serializer):
    """The shape of ``services.serialize`` (the socket's notification.new carries the same)."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=NotificationKind.choices)
    text = serializers.CharField()
    url = serializers.CharField(allow_blank=True, help_text="Where clicking it goes: a path on this site, or empty.")
    actor = serializers.UUIDField(allow_null=True)
    target_type = serializers.CharField(allow_blank=True)
    target_id = serializers.CharField(allow_blank=True)
    data = serializers.DictField()
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()

    def to_representation(self, instance):
        return services.serialize(instance)


class NotificationCursorPagination(StrictCursorPagination):
    page_size = 20
    max_page_size = 100
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except Exception:
            # DRF answers a bad cursor with 404; it is the client's malformed input.
            raise InvalidInput("That cursor is not valid.", fields={"cursor": ["Use a next/previous link as given."]}, code="invalid_cursor")

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["unread"] = selectors.unread_count(self.request.user.pk)
        return response

    def get_paginated_response_schema(self, schema):
        shape = super().get_paginated_response_schema(schema)
        shape["properties"]["unread"] = {
            "type": "integer",
            "description": f"Unread notifications, counted up to {selectors.UNREAD_CAP}.",
        }
        shape["required"] = ["results", "unread"]
        return shape


class NotificationListView(generics.ListAPIView):
    """GET: your notifications, newest first, in cursor pages (follow ``next``), with the unread count."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationCursorPagination

    def get_queryset(self):
        unread = self.request.query_params.get("unread", "")
        if unread not in ("", "0", "1", "true", "false"):
            raise InvalidInput("unread must be 1 or 0.", fields={"unread": ["Use 1 or 0."]})
        return selectors.notifications_of(self.request.user, unread_only=unread in ("1", "true"))

    @extend_schema(
        operation_id="notifications_list",
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.STR, enum=["1", "0", "true", "false"], description="1: only unread ones."),
        ],
        responses={200: NotificationSerializer(many=True), **_errors(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _parse_id(raw: str, name: str = "id"):
    return parse_uuid(raw, name=name, required=True)


ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The notification's id.")


class MarkReadView(APIView):
    """POST: mark one of your notifications read (idempotent)."""

    @extend_schema(
        operation_id="notifications_read",
        request=None,
        parameters=[ID_PARAMETER],
        responses={200: NotificationSerializer, **_errors(400, 401, 403, 404)},
    )
    def post(self, request, id):
        notification = services.mark_read(user=request.user, notification_id=_parse_id(id))
        return Response(services.serialize(notification))


class MarkAllReadView(APIView):
    """POST: mark all your notifications read."""

    @extend_schema(
        operation_id="notifications_read_all",
        request=None,
        responses={
            200: inline_serializer("ReadAllResult", {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()}),
            **_errors(401, 403),
        },
    )
    def post(self, request):
        marked = services.mark_all_read(user=request.user)
        return Response({"marked": marked, "unread": selectors.unread_count(request.user.pk)})


# --- preferences -------------------------------------------------------------------

ChannelsSerializer = inline_serializer(
    "NotificationChannels", {channel: serializers.BooleanField() for channel in Channel.values}
)


class PreferencesSerializer(serializers.Serializer):
    kinds = serializers.DictField(
        child=ChannelsSerializer, help_text="For every kind: which channels carry it (in_app, push, email)."
    )
    filter_not_following = serializers.BooleanField(help_text="Hold back new-message notifications from people you don't follow.")
    filter_never_paid = serializers.BooleanField(help_text="Hold back new-message notifications from people who never paid you.")


class PreferencesUpdateSerializer(serializers.Serializer):
    kinds = serializers.DictField(
        child=serializers.DictField(child=fields.BooleanField()),
        required=False,
        help_text="Only the switches to change: {kind: {channel: bool}}.",
    )
    filter_not_following = fields.BooleanField(required=False)
    filter_never_paid = fields.BooleanField(required=False)


class PreferencesView(APIView):
    """GET: which kinds reach you on which channel, and your message filters. PATCH: change some of them."""

    @extend_schema(operation_id="notifications_preferences", responses={200: PreferencesSerializer, **_errors(401, 403)})
    def get(self, request):
        return Response(services.preferences_of(request.user))

    @extend_schema(
        operation_id="notifications_preferences_update",
        request=PreferencesUpdateSerializer,
        responses={200: PreferencesSerializer, **_errors(400, 401, 403)},
    )
    def patch(self, request):
        data = PreferencesUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return Response(
            services.update_preferences(
                user=request.user,
                kinds_channels=values.get("kinds"),
                filter_not_following=values.get("filter_not_following"),
                filter_never_paid=values.get("filter_never_paid"),
            )
        )


# --- web push ----------------------------------------------------------------------


class PushSubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushSubscription
        fields = ["id", "endpoint", "user_agent", "created_at", "sent_count", "failed_count", "last_status", "last_success_at"]


class PushKeysSerializer(serializers.Serializer):
    p256dh = fields.CharField(max_length=128)
    auth = fields.CharField(max_length=64)


class NewPushSubscriptionSerializer(serializers.Serializer):
    """What the browser's PushSubscription.toJSON() gives."""

    endpoint = fields.CharField(max_length=2048)
    keys = PushKeysSerializer()
    expirationTime = fields.IntegerField(required=False, allow_null=True)


class EndpointSerializer(serializers.Serializer):
    endpoint = fields.CharField(max_length=2048)


class PushStatusView(APIView):
    """GET: whether web push is on here and the VAPID public key a browser subscribes with."""

    @extend_schema(
        operation_id="notifications_push_status",
        responses={
            200: inline_serializer(
                "PushStatus",
                {
                    "enabled": serializers.BooleanField(),
                    "public_key": serializers.CharField(allow_null=True, help_text="applicationServerKey, base64url."),
                    "subscriptions": PushSubscriptionSerializer(many=True),
                },
            ),
            **_errors(401, 403),
        },
    )
    def get(self, request):
        enabled = webpush.is_configured()
        return Response(
            {
                "enabled": enabled,
                "public_key": services.vapid_public_key() if enabled else None,
                "subscriptions": PushSubscriptionSerializer(selectors.push_subscriptions_of(request.user), many=True).data,
            }
        )


class PushSubscriptionListView(APIView):
    """POST: store this browser's push subscription (idempotent per endpoint)."""

    @extend_schema(
        operation_id="notifications_push_subscribe",
        request=NewPushSubscriptionSerializer,
        responses={
            201: PushSubscriptionSerializer,
            200: PushSubscriptionSerializer,
            **_errors(400, 401, 403, 409),
        },
    )
    def post(self, request):
        data = NewPushSubscriptionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subscription, created = services.subscribe_push(
            user=request.user,
            endpoint=values["endpoint"],
            p256dh=values["keys"]["p256dh"],
            auth=values["keys"]["auth"],
            user_agent=request.headers.get("User-Agent", ""),
        )
        return Response(
            PushSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class PushUnsubscribeView(APIView):
    """POST: forget this browser's subscription, by its endpoint (idempotent)."""

    @extend_schema(
        operation_id="notifications_push_unsubscribe",
        request=EndpointSerializer,
        responses={200: inline_serializer("Unsubscribed", {"removed": serializers.BooleanField()}), **_errors(400, 401, 403)},
    )
    def post(self, request):
        data = EndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"removed": services.unsubscribe_push(user=request.user, endpoint=data.validated_data["endpoint"])})


class PushSubscriptionDetailView(APIView):
    """DELETE: forget one of your subscriptions (a device you no longer use)."""

    @extend_schema(
        operation_id="notifications_push_subscription_delete",
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The subscription's id.")],
        responses={204: None, **_errors(400, 401, 403, 404)},
    )
    def delete(self, request, id):
        services.unsubscribe_push(user=request.user, subscription_id=_parse_id(id))
        return Response(status=status.HTTP_204_NO_CONTENT)

