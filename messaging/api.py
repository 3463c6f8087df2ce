"""Messaging API: conversations, messages, reads, reports, deletion, broadcasts, settings.

Only the two people in a conversation see it or touch it; anyone else gets the
same 404 as for a conversation that does not exist. Every write calls one
service (``messaging.services``); the socket handlers call the same ones.
"""

import base64
import binascii
import json
from datetime import datetime

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from digis import fields
from digis.errors import InvalidInput
from digis.params import parse_int
from messaging import selectors, services
from messaging.models import Broadcast, EscrowState, MessageKind
from moderation.models import ReportReason

# --- shapes (the schema; responses are built by selectors in exactly this shape) ---------------


def errors(*codes: int) -> dict:
    """Domain errors an operation documents; digis.schema gives every 4xx the shared Error body."""
    text = {
        400: "Invalid input (code names the problem).",
        402: "Not enough tokens: insufficient_funds, with shortfall, price, balance and buy_url.",
        403: "Not allowed: blocked, followers_only, spend_required, wallet_frozen, delete_not_allowed, not_a_creator.",
        404: "Not found, or not yours to see.",
        409: "Conflicts with what exists (client_message_id_reused).",
        429: "Too many: message_rate_limited / broadcast_rate_limited.",
    }
    return {code: OpenApiResponse(description=text[code]) for code in codes}


class PersonSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    name = serializers.CharField()
    avatar_url = serializers.CharField(allow_blank=True)
    initials = serializers.CharField()
    is_creator = serializers.BooleanField()
    online = serializers.BooleanField(required=False)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Increases with every message; catch up with messages.sync after the last one seen.")
    conversation_id = serializers.UUIDField()
    sender_id = serializers.UUIDField()
    mine = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    text = serializers.CharField(allow_blank=True, help_text="Plain text; render it as text, never as HTML.")
    image_url = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    price = serializers.IntegerField(help_text="Tokens the fan paid (0: free).")
    escrow_state = serializers.ChoiceField(choices=EscrowState.choices)
    reply_by = serializers.DateTimeField(allow_null=True, help_text="A held message is refunded if not answered by then.")
    settled_at = serializers.DateTimeField(allow_null=True)
    refund_reason = serializers.CharField(allow_null=True)
    deleted = serializers.BooleanField()
    hidden = serializers.BooleanField()
    client_message_id = serializers.CharField(allow_null=True)


class ConversationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    side = serializers.ChoiceField(choices=["fan", "creator"], help_text="Your side of the conversation: the creator sets the price and rules.")
    other = PersonSerializer()
    last_message = MessageSerializer(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    unread_count = serializers.IntegerField()
    read_id = serializers.IntegerField()
    other_read_id = serializers.IntegerField(allow_null=True, help_text="Null when the other side keeps read receipts off.")
    held_count = serializers.IntegerField()
    held_tokens = serializers.IntegerField()
    url = serializers.CharField()
    created_at = serializers.DateTimeField()


class ConversationDetailSerializer(ConversationSerializer):
    price = serializers.IntegerField(help_text="What your next message costs (0: free).")
    can_send = serializers.BooleanField()
    cannot_send = serializers.CharField(allow_null=True, help_text="The error code sending would get, if any.")
    cannot_send_message = serializers.CharField(allow_null=True)


class ConversationPageSerializer(serializers.Serializer):
    results = ConversationSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    before = serializers.IntegerField(allow_null=True, help_text="Pass as ?before= for the next older page; null at the start.")


class NewConversationSerializer(serializers.Serializer):
    user = fields.CharField(max_length=150, help_text="The other person's username or id.")


class SendSerializer(serializers.Serializer):
    client_message_id = fields.CharField(max_length=64, help_text="Your id for this message (a UUID); resending it never charges twice.")
    text = fields.CharField(max_length=20000, allow_blank=True, required=False, default="", trim_whitespace=False)
    image = serializers.FileField(required=False, help_text="JPEG, PNG, WebP or GIF; re-encoded, metadata removed.")


class ReadSerializer(serializers.Serializer):
    up_to = fields.IntegerField(required=False, min_value=0, max_value=2**63 - 1, help_text="Default: the newest message.")


class ReadResultSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    read_id = serializers.IntegerField()


class ReportSerializer(serializers.Serializer):
    reason = fields.ChoiceField(choices=ReportReason.choices)
    note = fields.CharField(max_length=2000, allow_blank=True, required=False, default="")


class ReportResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class BroadcastSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    audience = serializers.ChoiceField(choices=Broadcast.Audience.choices)
    min_spend = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Broadcast.Status.choices)
    recipient_count = serializers.IntegerField()
    delivered_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class NewBroadcastSerializer(serializers.Serializer):
    text = fields.CharField(max_length=20000, trim_whitespace=False)
    audience = fields.ChoiceField(choices=Broadcast.Audience.choices)
    min_spend = fields.IntegerField(required=False, default=0, min_value=0, max_value=10**9)
    client_broadcast_id = fields.CharField(required=False, default="", allow_blank=True, max_length=64)


class SettingsSerializer(serializers.Serializer):
    read_receipts = fields.BooleanField()


class UnreadSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    stream_position = serializers.IntegerField(help_text="The newest message id of your stream: send messages.sync with after= this.")


def broadcast_data(broadcast: Broadcast) -> dict:
    return {
        "id": str(broadcast.pk),
        "text": broadcast.text,
        "audience": broadcast.audience,
        "min_spend": broadcast.min_spend,
        "status": broadcast.status,
        "recipient_count": broadcast.recipient_count,
        "delivered_count": broadcast.delivered_count,
        "created_at": broadcast.created_at.isoformat(),
        "finished_at": broadcast.finished_at.isoformat() if broadcast.finished_at else None,
    }


def detail_data(conversation, user) -> dict:
    """A conversation with what the viewer's next message would cost and whether it may go."""
    from messaging.rules import sending_gate

    selectors.decorate([conversation], user)
    data = selectors.conversation_data(conversation, user)
    gate = sending_gate(conversation=conversation, user=user)
    data.update(price=gate.price, can_send=gate.error is None, cannot_send=gate.error.code if gate.error else None,
                cannot_send_message=gate.error.message if gate.error else None)
    return data


# --- cursors -----------------------------------------------------------------------------


def _encode_cursor(position) -> str | None:
    if position is None:
        return None
    at, conversation_id = position
    raw = json.dumps([at.isoformat(), str(conversation_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str | None):
    if not value:
        return None
    try:
        at, conversation_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        from digis.params import parse_uuid

        return datetime.fromisoformat(at), parse_uuid(conversation_id, name="cursor")
    except (ValueError, TypeError, binascii.Error, InvalidInput):
        raise InvalidInput("The cursor is not valid.", fields={"cursor": ["Use next_cursor from the previous page."]}, code="invalid_cursor")


# --- views -----------------------------------------------------------------------------


class ConversationListView(APIView):
    """GET: your conversations, newest first (cursor pages). POST: open (or find) one with someone."""

    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1-100, default 30"),
        ],
        responses={200: ConversationPageSerializer, **errors(400)},
    )
    def get(self, request):
        limit = parse_int(request.query_params.get("limit"), name="limit", default=selectors.PAGE_SIZE, minimum=1,
                          maximum=selectors.MAX_PAGE_SIZE)
        page, position = selectors.inbox(request.user, before=_decode_cursor(request.query_params.get("cursor")), limit=limit)
        return Response({
            "results": [selectors.conversation_data(c, request.user) for c in page],
            "next_cursor": _encode_cursor(position),
        })

    @extend_schema(
        operation_id="conversations_open",
        request=NewConversationSerializer,
        responses={200: ConversationDetailSerializer, 201: ConversationDetailSerializer, **errors(400, 403, 404)},
    )
    def post(self, request):
        data = NewConversationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation, created = services.open_conversation(user=request.user, with_user=data.validated_data["user"])
        conversation = selectors.conversation_for_party(conversation_id=conversation.pk, user=request.user)
        return Response(detail_data(conversation, request.user), status=201 if created else 200)


class UnreadView(APIView):
    @extend_schema(operation_id="conversations_unread", responses=UnreadSerializer)
    def get(self, request):
        return Response({**selectors.unread_summary(request.user), "stream_position": selectors.stream_position(request.user)})


class ConversationDetailView(APIView):
    @extend_schema(operation_id="conversations_detail", responses={200: ConversationDetailSerializer, **errors(404)})
    def get(self, request, conversation_id):
        conversation = selectors.conversation_for_party(conversation_id=conversation_id, user=request.user)
        return Response(detail_data(conversation, request.user))


class ConversationMessagesView(APIView):
    """GET: the thread, a page at a time (upward with ?before=, catching up with ?after=). POST: send."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="conversations_messages_list",
        parameters=[
            OpenApiParameter("before", int, description="Messages older than this id (load history upward)."),
            OpenApiParameter("after", int, description="Messages newer than this id, oldest first (catch up)."),
            OpenApiParameter("limit", int, description="1-100, default 30"),
        ],
        responses={200: MessagePageSerializer, **errors(400, 404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_for_party(conversation_id=conversation_id, user=request.user)
        params = request.query_params
        before = selectors.parse_message_id(params.get("before"), name="before")
        after = selectors.parse_message_id(params.get("after"), name="after")
        limit = parse_int(params.get("limit"), name="limit", default=selectors.PAGE_SIZE, minimum=1, maximum=selectors.MAX_PAGE_SIZE)
        messages, older = selectors.history(conversation=conversation, viewer=request.user, before=before, after=after, limit=limit)
        return Response({"results": [selectors.message_data(m, request.user) for m in messages], "before": older})

    @extend_schema(
        operation_id="conversations_messages_send",
        request={"application/json": SendSerializer, "multipart/form-data": SendSerializer},
        responses={
            201: OpenApiResponse(MessageSerializer, description="Stored and sent."),
            200: OpenApiResponse(MessageSerializer, description="A resend of a client_message_id already stored: the first message, nothing charged."),
            **errors(400, 402, 403, 404, 409, 429),
        },
    )
    def post(self, request, conversation_id):
        data = SendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = services.send_message(
            sender=request.user, conversation_id=conversation_id, client_message_id=data.validated_data["client_message_id"],
            text=data.validated_data.get("text", ""), image=data.validated_data.get("image"),
        )
        return Response(selectors.message_data(message, request.user), status=201 if created else 200)


class ConversationReadView(APIView):
    @extend_schema(operation_id="conversations_read", request=ReadSerializer, responses={200: ReadResultSerializer, **errors(400, 404)})
    def post(self, request, conversation_id):
        data = ReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.mark_read(user=request.user, conversation_id=conversation_id, up_to=data.validated_data.get("up_to")))


class MessageDetailView(APIView):
    @extend_schema(operation_id="messages_delete", responses={200: MessageSerializer, **errors(403, 404)})
    def delete(self, request, message_id):
        message = services.delete_message(user=request.user, message_id=message_id)
        return Response(selectors.message_data(message, request.user))


class MessageReportView(APIView):
    @extend_schema(operation_id="messages_report", request=ReportSerializer, responses={201: ReportResultSerializer, **errors(400, 404)})
    def post(self, request, message_id):
        from moderation.services import file_report

        data = ReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = file_report(reporter=request.user, target_kind="message", target_id=str(message_id), **data.validated_data)
        return Response({"id": str(report.pk), "status": report.status}, status=status.HTTP_201_CREATED)


class BroadcastListView(APIView):
    """GET: your broadcasts. POST: queue one (delivered by background workers in batches)."""

    @extend_schema(operation_id="broadcasts_list", responses=BroadcastSerializer(many=True))
    def get(self, request):
        rows = Broadcast.objects.filter(creator=request.user).order_by("-created_at")[:50]
        return Response([broadcast_data(b) for b in rows])

    @extend_schema(
        operation_id="broadcasts_create",
        request=NewBroadcastSerializer,
        responses={202: BroadcastSerializer, 200: OpenApiResponse(BroadcastSerializer, description="Already queued under this client_broadcast_id."),
                   **errors(400, 403, 429)},
    )
    def post(self, request):
        data = NewBroadcastSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        broadcast, created = services.start_broadcast(creator=request.user, **data.validated_data)
        broadcast.refresh_from_db()
        return Response(broadcast_data(broadcast), status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class BroadcastDetailView(APIView):
    @extend_schema(operation_id="broadcasts_detail", responses={200: BroadcastSerializer, **errors(404)})
    def get(self, request, broadcast_id):
        broadcast = Broadcast.objects.filter(pk=broadcast_id, creator=request.user).first()
        if broadcast is None:
            from digis.errors import NotFound

            raise NotFound("No such broadcast.", code="broadcast_not_found")
        return Response(broadcast_data(broadcast))


class MessagingSettingsView(APIView):
    @extend_schema(operation_id="messaging_settings", responses=SettingsSerializer)
    def get(self, request):
        return Response({"read_receipts": selectors.read_receipts_on(request.user)})

    @extend_schema(operation_id="messaging_settings_update", request=SettingsSerializer, responses={200: SettingsSerializer, **errors(400)})
    def patch(self, request):
        data = SettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"read_receipts": services.set_read_receipts(user=request.user, enabled=data.validated_data["read_receipts"])})

