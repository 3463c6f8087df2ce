"""Live streaming API: go live, watch, chat, moderate, tip, goal.

Who may call what: anyone signed in lists and reads streams (a stream whose
host blocked them, or whom they blocked, is a 404); the host ends it, sets the
goal and names chat moderators; the host, their moderators and platform
moderators moderate the chat; a viewer joins (buying the ticket), chats and
tips. Everything else gets 403/404 with a code.
"""

from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from digis import fields
from digis.errors import InvalidInput
from digis.pagination import StrictCursorPagination
from digis.schema import cursor_page, cursor_parameters
from streaming import selectors, services
from streaming.exceptions import StreamNotFound
from streaming.models import Audience, MediaProvider, RestrictionKind

# --- shapes -------------------------------------------------------------------------------


CLIENT_KEY_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.:-]{1,64}$", "1-64 characters: letters, digits, _ . : -")

ERROR_DESCRIPTIONS = {
    400: "Invalid input (see error.fields), or a code such as invalid_stream, invalid_tip, invalid_moderation.",
    401: "Not signed in.",
    402: "insufficient_funds (with shortfall and buy_url) or ticket_required.",
    403: "not_a_creator, not_the_host, not_a_moderator, blocked, banned_from_channel, followers_only, or a chat rule.",
    404: "stream_not_found, message_not_found, user_not_found (a stream whose host and you blocked one another is 404 too).",
    409: "already_live, stream_not_live, room_full, idempotency_conflict.",
    429: "slow_mode or chat_rate_limited (with retry_after_s).",
}


def errors(*codes: int) -> dict:
    return {code: OpenApiResponse(description=ERROR_DESCRIPTIONS[code]) for code in codes}


class UserBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    name = serializers.CharField()


class GoalSerializer(serializers.Serializer):
    title = serializers.CharField(allow_blank=True)
    target = serializers.IntegerField()
    raised = serializers.IntegerField()
    percent = serializers.IntegerField()
    reached = serializers.BooleanField()


class ChatSettingsSerializer(serializers.Serializer):
    slow_mode_s = serializers.IntegerField()
    followers_only = serializers.BooleanField()
    followers_min_minutes = serializers.IntegerField()


class StreamSerializer(serializers.Serializer):
    """A stream (output only). ``summary`` is shown to the host, after the end."""

    id = serializers.UUIDField()
    host = UserBriefSerializer()
    title = serializers.CharField()
    category = serializers.CharField(allow_blank=True)
    audience = serializers.ChoiceField(choices=Audience.choices)
    ticket_price = serializers.IntegerField()
    media_provider = serializers.ChoiceField(choices=MediaProvider.choices)
    status = serializers.ChoiceField(choices=["live", "ended"])
    end_reason = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    viewers = serializers.IntegerField()
    goal = GoalSerializer(allow_null=True)
    chat = ChatSettingsSerializer()
    url = serializers.CharField()
    summary = serializers.DictField(allow_null=True)


class GoLiveSerializer(serializers.Serializer):
    title = fields.CharField(max_length=120)
    category = fields.CharField(max_length=40, required=False, allow_blank=True, default="")
    audience = fields.ChoiceField(choices=Audience.choices, default=Audience.EVERYONE)
    ticket_price = fields.IntegerField(required=False, allow_null=True, min_value=0, max_value=10**9)


class EndSerializer(serializers.Serializer):
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class MediaSerializer(serializers.Serializer):
    provider = serializers.CharField(help_text='"agora" or "webrtc" (the stream\'s media_provider).')
    role = serializers.CharField(help_text='"host" (broadcaster) or "audience".')
    app_id = serializers.CharField(required=False)
    channel = serializers.CharField(required=False)
    uid = serializers.IntegerField(required=False)
    token = serializers.CharField(required=False)
    expires_at = serializers.IntegerField(required=False)
    ice_servers = serializers.ListField(child=serializers.DictField(), required=False)
    host_id = serializers.UUIDField(required=False)
    max_viewers = serializers.IntegerField(required=False)


class JoinSerializer(serializers.Serializer):
    stream = StreamSerializer()
    role = serializers.CharField(help_text='"host", "moderator" (the host\'s chat moderators watch free) or "viewer".')
    media = MediaSerializer()


class TipInSerializer(serializers.Serializer):
    amount = fields.IntegerField(min_value=1, max_value=10**9)
    message = fields.CharField(max_length=200, required=False, allow_blank=True, default="")
    client_key = fields.CharField(max_length=64, validators=[CLIENT_KEY_VALIDATOR],
                                  help_text="The client's own id for this tip (1-64 of A-Z a-z 0-9 _ . : -): sending it again never charges twice.")


class TipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tipper = UserBriefSerializer()
    amount = serializers.IntegerField()
    message = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class TipResultSerializer(serializers.Serializer):
    tip = TipSerializer()
    created = serializers.BooleanField()
    goal = GoalSerializer(allow_null=True)


class GoalInSerializer(serializers.Serializer):
    title = fields.CharField(max_length=80, required=False, allow_blank=True, default="")
    target = fields.IntegerField(min_value=0, max_value=100_000_000, help_text="Tokens; 0 removes the goal.")


class ChatMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = UserBriefSerializer()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class ChatInSerializer(serializers.Serializer):
    text = fields.CharField(max_length=500)
    client_key = fields.CharField(max_length=64, validators=[CLIENT_KEY_VALIDATOR],
                                  help_text="The client's own id for this message: sending it again posts it once.")


class ChatResultSerializer(serializers.Serializer):
    message = ChatMessageSerializer()
    created = serializers.BooleanField()


class ChatSettingsInSerializer(serializers.Serializer):
    slow_mode_s = fields.IntegerField(required=False, min_value=0, max_value=120, help_text="0 (off) or 3-120 seconds.")
    followers_only = fields.BooleanField(required=False)
    followers_min_minutes = fields.IntegerField(required=False, min_value=0, max_value=129600)
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class TimeoutInSerializer(serializers.Serializer):
    user = fields.CharField(max_length=150, help_text="The user's id or username.")
    seconds = fields.IntegerField(min_value=1, max_value=14 * 24 * 3600)
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class BanInSerializer(serializers.Serializer):
    user = fields.CharField(max_length=150, help_text="The user's id or username.")
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class RestrictionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text='"ban" or "timeout".')
    user = UserBriefSerializer()
    until = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class ModeratorInSerializer(serializers.Serializer):
    user = fields.CharField(max_length=150, help_text="The user's id or username.")


class ModeratorSerializer(serializers.Serializer):
    user = UserBriefSerializer()
    created_at = serializers.DateTimeField()


def _brief(user) -> dict:
    return {"id": str(user.pk), "username": user.username, "name": selectors.display_name(user)}


def _restriction(row) -> dict:
    return {"id": row.pk, "kind": row.kind, "user": _brief(row.user), "until": row.until, "reason": row.reason, "created_at": row.created_at}


def _visible_stream(stream_id, user):
    """The stream, unless the viewer and the host blocked one another (then 404, as for none)."""
    from accounts.selectors import is_blocked_between

    stream = selectors.stream_by_id(stream_id)
    if user.pk != stream.host_id and is_blocked_between(user, stream.host_id):
        raise StreamNotFound()
    return stream


def _valid(serializer_class, request):
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


# --- views -------------------------------------------------------------------------------


class StreamPagination(StrictCursorPagination):
    page_size = 24
    max_page_size = 100
    ordering = ("-started_at", "-id")


class StreamListView(APIView):
    """GET: streams, newest first (?live=1 only live ones, ?live=0 only ended; ?host=<username>). POST: go live."""

    @extend_schema(
        operation_id="streams_list",
        parameters=[
            OpenApiParameter("live", str, enum=["1", "0"], required=False, description="1: live now; 0: ended."),
            OpenApiParameter("host", {"type": "string", "maxLength": 150}, required=False, description="Only this host's streams (username)."),
            *cursor_parameters(max_page_size=StreamPagination.max_page_size),
        ],
        responses={200: cursor_page(StreamSerializer, name="StreamPage"), **errors(400, 401)},
    )
    def get(self, request):
        from accounts.selectors import blocked_user_ids
        from streaming.models import LiveStream, StreamStatus

        live = request.query_params.get("live")
        if live not in (None, "", "1", "0"):
            raise InvalidInput("'live' must be 1 or 0.", fields={"live": ["Must be 1 or 0."]})
        if live == "1":
            streams = selectors.live_streams()
        else:
            streams = LiveStream.objects.select_related("host").filter(host__is_active=True)
            if live == "0":
                streams = streams.filter(status=StreamStatus.ENDED)
        host = (request.query_params.get("host") or "").strip()
        if host:
            if len(host) > 150:
                raise InvalidInput("'host' is a username.", fields={"host": ["At most 150 characters."]})
            streams = streams.filter(host__username__iexact=host)
        hidden = blocked_user_ids(request.user)
        if hidden:
            streams = streams.exclude(host_id__in=hidden)
        paginator = StreamPagination()
        page = paginator.paginate_queryset(streams, request, view=self)
        return paginator.get_paginated_response([selectors.stream_payload(s, viewer=request.user) for s in page])

    @extend_schema(operation_id="streams_create", request=GoLiveSerializer, responses={201: StreamSerializer, **errors(400, 401, 403, 409)})
    def post(self, request):
        data = _valid(GoLiveSerializer, request)
        stream = services.go_live(host=request.user, title=data["title"], category=data["category"], audience=data["audience"],
                                  ticket_price=data.get("ticket_price"))
        return Response(selectors.stream_payload(stream, viewer=request.user), status=status.HTTP_201_CREATED)


class StreamDetailView(APIView):
    @extend_schema(operation_id="streams_retrieve", responses={200: StreamSerializer, **errors(401, 404)})
    def get(self, request, id):
        return Response(selectors.stream_payload(_visible_stream(id, request.user), viewer=request.user))


class StreamEndView(APIView):
    @extend_schema(operation_id="streams_end", request=EndSerializer, responses={200: StreamSerializer, **errors(400, 401, 403, 404)})
    def post(self, request, id):
        data = _valid(EndSerializer, request)
        _visible_stream(id, request.user)
        stream = services.end_stream(stream_id=id, actor=request.user, reason=data["reason"])
        return Response(selectors.stream_payload(stream, viewer=request.user))


class StreamJoinView(APIView):
    @extend_schema(operation_id="streams_join", request=None, responses={200: JoinSerializer, **errors(401, 402, 403, 404, 409)})
    def post(self, request, id):
        _visible_stream(id, request.user)
        stream, media, role = services.join_stream(stream_id=id, user=request.user)
        return Response({"stream": selectors.stream_payload(stream, viewer=request.user), "role": role, "media": media})


class StreamTipsView(APIView):
    @extend_schema(operation_id="streams_tip", request=TipInSerializer,
                   responses={201: TipResultSerializer, 200: TipResultSerializer, **errors(400, 401, 402, 403, 404, 409)})
    def post(self, request, id):
        data = _valid(TipInSerializer, request)
        stream = _visible_stream(id, request.user)
        tip, created = services.send_tip(stream_id=id, tipper=request.user, amount=data["amount"], message=data["message"],
                                         client_key=data["client_key"])
        body = {"tip": services.tip_payload(tip, request.user), "created": created, "goal": selectors.goal_progress(stream)}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class StreamGoalView(APIView):
    @extend_schema(operation_id="streams_goal", request=GoalInSerializer, responses={200: StreamSerializer, **errors(400, 401, 403, 404, 409)})
    def put(self, request, id):
        data = _valid(GoalInSerializer, request)
        _visible_stream(id, request.user)
        stream = services.set_goal(stream_id=id, actor=request.user, title=data["title"], target=data["target"])
        return Response(selectors.stream_payload(stream, viewer=request.user))


class StreamChatView(APIView):
    """GET: the last chat messages. POST: send one (as over the socket)."""

    @extend_schema(operation_id="streams_chat_list", responses={200: ChatMessageSerializer(many=True), **errors(401, 402, 403, 404, 409)})
    def get(self, request, id):
        stream = _visible_stream(id, request.user)
        if stream.is_live:
            services.admit(stream, request.user)
        return Response(selectors.recent_chat(stream))

    @extend_schema(operation_id="streams_chat_send", request=ChatInSerializer,
                   responses={201: ChatResultSerializer, 200: ChatResultSerializer, **errors(400, 401, 402, 403, 404, 409, 429)})
    def post(self, request, id):
        data = _valid(ChatInSerializer, request)
        _visible_stream(id, request.user)
        message, created = services.send_chat(stream_id=id, user=request.user, text=data["text"], client_key=data["client_key"])
        return Response({"message": message, "created": created}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatMessageView(APIView):
    @extend_schema(operation_id="streams_chat_delete", request=None, responses={204: None, **errors(401, 403, 404)})
    def delete(self, request, id, message_id):
        _visible_stream(id, request.user)
        services.delete_message(stream_id=id, message_id=message_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatSettingsView(APIView):
    @extend_schema(operation_id="streams_chat_settings", request=ChatSettingsInSerializer,
                   responses={200: ChatSettingsSerializer, **errors(400, 401, 403, 404, 409)})
    def patch(self, request, id):
        data = _valid(ChatSettingsInSerializer, request)
        _visible_stream(id, request.user)
        stream = services.update_chat_settings(
            stream_id=id, actor=request.user, slow_mode_s=data.get("slow_mode_s"), followers_only=data.get("followers_only"),
            followers_min_minutes=data.get("followers_min_minutes"), reason=data["reason"],
        )
        return Response(services.chat_settings(stream))


class RestrictionListView(APIView):
    """GET: the host's bans and timeouts in force (host and moderators)."""

    @extend_schema(operation_id="streams_restrictions", responses={200: RestrictionSerializer(many=True), **errors(401, 403, 404)})
    def get(self, request, id):
        _visible_stream(id, request.user)
        stream = services.moderated_stream(id, request.user)
        return Response([_restriction(row) for row in selectors.restrictions_of(stream.host)])


class TimeoutView(APIView):
    @extend_schema(operation_id="streams_timeout", request=TimeoutInSerializer, responses={201: RestrictionSerializer, **errors(400, 401, 403, 404)})
    def post(self, request, id):
        data = _valid(TimeoutInSerializer, request)
        _visible_stream(id, request.user)
        row = services.timeout_user(stream_id=id, actor=request.user, user=data["user"], seconds=data["seconds"], reason=data["reason"])
        return Response(_restriction(row), status=status.HTTP_201_CREATED)


class TimeoutDetailView(APIView):
    @extend_schema(operation_id="streams_timeout_lift", request=None, responses={204: None, **errors(401, 403, 404)})
    def delete(self, request, id, user_id):
        _visible_stream(id, request.user)
        services.lift_restriction(stream_id=id, actor=request.user, user=str(user_id), kind=RestrictionKind.TIMEOUT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BanView(APIView):
    @extend_schema(operation_id="streams_ban", request=BanInSerializer, responses={201: RestrictionSerializer, **errors(400, 401, 403, 404)})
    def post(self, request, id):
        data = _valid(BanInSerializer, request)
        _visible_stream(id, request.user)
        row = services.ban_user(stream_id=id, actor=request.user, user=data["user"], reason=data["reason"])
        return Response(_restriction(row), status=status.HTTP_201_CREATED)


class BanDetailView(APIView):
    @extend_schema(operation_id="streams_ban_lift", request=None, responses={204: None, **errors(401, 403, 404)})
    def delete(self, request, id, user_id):
        _visible_stream(id, request.user)
        services.lift_restriction(stream_id=id, actor=request.user, user=str(user_id), kind=RestrictionKind.BAN)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModeratorListView(APIView):
    """Your chat moderators (as a host): GET the list, POST to add one."""

    @extend_schema(operation_id="streams_moderators_list", responses={200: ModeratorSerializer(many=True), **errors(401)})
    def get(self, request):
        return Response([{"user": _brief(row.user), "created_at": row.created_at} for row in selectors.moderators_of(request.user)])

    @extend_schema(operation_id="streams_moderators_add", request=ModeratorInSerializer, responses={201: ModeratorSerializer, **errors(400, 401, 403, 404)})
    def post(self, request):
        from streaming.exceptions import NotHost

        data = _valid(ModeratorInSerializer, request)
        if getattr(request.user, "role", "") != "creator":
            raise NotHost("Only creators have chat moderators.", code="not_a_creator")
        row = services.add_moderator(host=request.user, user=data["user"])
        return Response({"user": _brief(row.user), "created_at": row.created_at}, status=status.HTTP_201_CREATED)


class ModeratorDetailView(APIView):
    @extend_schema(operation_id="streams_moderators_remove", request=None, responses={204: None, **errors(401, 404)})
    def delete(self, request, user_id):
        services.remove_moderator(host=request.user, user=str(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

