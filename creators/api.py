"""Creators API: Explore, profiles, categories, follows, editing one's own profile."""

from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from creators import selectors, services
from creators.exceptions import NotACreator
from creators.models import MessagePolicy
from creators.services import MAX_CALL_MINUTES, MAX_TOKENS
from digis import fields
from digis.errors import DomainError, InvalidInput

JSON = "application/json"


class CategorySerializer(serializers.Serializer):
    slug = fields.SlugField()
    name = fields.CharField()


class CreatorCardSerializer(serializers.Serializer):
    """Shape of a creator card (output only; the data comes from selectors' cached cards)."""

    id = fields.UUIDField()
    username = fields.CharField()
    name = fields.CharField()
    bio = fields.CharField()
    avatar_url = fields.CharField()
    cover_url = fields.CharField()
    video_call_rate = fields.IntegerField()
    voice_call_rate = fields.IntegerField()
    message_price = fields.IntegerField()
    min_call_minutes = fields.IntegerField()
    message_policy = fields.ChoiceField(choices=MessagePolicy.choices)
    message_min_spend = fields.IntegerField()
    follower_count = fields.IntegerField()
    categories = CategorySerializer(many=True)
    availability = fields.ChoiceField(choices=["online", "in_call", "offline", "dnd"])
    is_live = fields.BooleanField()


class CreatorPageSerializer(serializers.Serializer):
    results = CreatorCardSerializer(many=True)
    next_cursor = fields.CharField(allow_null=True)
    next = fields.CharField(allow_null=True)


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = fields.CharField(max_length=80, allow_blank=True, required=False)
    bio = fields.CharField(max_length=1000, allow_blank=True, required=False)
    video_call_rate = fields.IntegerField(min_value=1, max_value=MAX_TOKENS, required=False)
    voice_call_rate = fields.IntegerField(min_value=1, max_value=MAX_TOKENS, required=False)
    message_price = fields.IntegerField(min_value=0, max_value=MAX_TOKENS, required=False, help_text="0: messages are free.")
    message_min_spend = fields.IntegerField(min_value=0, max_value=MAX_TOKENS, required=False)
    min_call_minutes = fields.IntegerField(min_value=1, max_value=MAX_CALL_MINUTES, required=False)
    do_not_disturb = fields.BooleanField(required=False)
    message_policy = fields.ChoiceField(choices=MessagePolicy.choices, required=False)
    # The five-category limit is the service's (code too_many_categories).
    categories = serializers.ListField(child=fields.SlugField(max_length=40), required=False, max_length=50)


class CategoryListSerializer(serializers.Serializer):
    results = CategorySerializer(many=True)


class FollowStateSerializer(serializers.Serializer):
    following = fields.BooleanField()
    changed = fields.BooleanField(help_text="False when it already was so (follow and unfollow are idempotent).")
    follower_count = fields.IntegerField()


class CategoryListView(APIView):
    """The curated categories, in display order."""

    permission_classes = [AllowAny]

    @extend_schema(responses=CategoryListSerializer)
    def get(self, request):
        return Response({"results": selectors.categories()})


class CreatorListView(APIView):
    """Explore: creators filtered and sorted, one keyset page at a time."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="creators_list",
        parameters=[
            OpenApiParameter("category", {"type": "string", "maxLength": 40}, description="Category slug; unknown -> 400 unknown_category"),
            OpenApiParameter("q", {"type": "string", "maxLength": selectors.MAX_QUERY_LENGTH}, description="Search name, username and bio"),
            OpenApiParameter("online", str, enum=["1", "0", "true", "false"], description="Only creators online now"),
            OpenApiParameter("sort", str, enum=list(selectors.SORTS)),
            OpenApiParameter("cursor", {"type": "string", "maxLength": 200}, description="next_cursor of the previous page; anything else -> 400 invalid_cursor"),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": selectors.MAX_PAGE_SIZE},
                description=f"Page size, default {selectors.DEFAULT_PAGE_SIZE}",
            ),
        ],
        responses=CreatorPageSerializer,
    )
    def get(self, request):
        query = selectors.parse_explore_query(request.query_params)
        renderer = request.accepted_renderer
        if request.user.is_authenticated:
            return self._signed_in(request, query, renderer, request.accepted_media_type, through_drf=True)
        if isinstance(renderer, JSONRenderer):
            return self._shared_json(request, query, renderer, request.accepted_media_type)
        return Response(
            selectors.anonymous_explore_cached(
                ("api", self._base_url(request), query), lambda: self._build(request, query)
            )
        )

    def _signed_in(self, request, query, renderer, media_type, *, through_drf: bool):
        # Blocks apply: a viewer whose blocks leave the shared page as it is
        # (most viewers: they hide nobody on it) gets the shared bytes; the
        # others get the shared page minus whom they hide, built for them.
        hidden = selectors.hidden_user_ids(request.user)
        if isinstance(renderer, JSONRenderer) and selectors.viewer_sees_shared_page(query, hidden):
            return self._shared_json(request, query, renderer, media_type)
        data = self._build(request, query, hidden=hidden)
        if through_drf:
            return Response(data)
        return self._json(renderer.render(data, media_type, {}), renderer)

    def dispatch(self, request, *args, **kwargs):
        # Most Explore traffic is a plain JSON GET, anonymous or signed in
        # with the session, answered from the shared page. For exactly the
        # requests on which DRF's authentication would find the session's
        # user (or nobody) and its content negotiation would pick JSON,
        # answer without DRF's request wrapping, negotiation, authenticators
        # and permission checks; everything else, including every error and
        # every bearer token, goes through DRF as before. Same bytes and
        # headers either way (tests/test_anonymous_cache.py).
        if self._plain_json_get(request):
            try:
                query = selectors.parse_explore_query(request.GET)
            except DomainError:
                pass  # DRF renders it
            else:
                self.headers = self.default_response_headers
                if request.user.is_authenticated:
                    response = self._signed_in(request, query, JSONRenderer(), JSON, through_drf=False)
                else:
                    response = self._shared_json(request, query, JSONRenderer(), JSON)
                return self.finalize_response(request, response)
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _plain_json_get(request) -> bool:
        return (
            request.method == "GET"
            and request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", JSON)
            and "format" not in request.GET  # DRF's URL_FORMAT_OVERRIDE
            and "HTTP_AUTHORIZATION" not in request.META  # bearer tokens: DRF decides
            # APIClient.force_authenticate, as DRF's Request reads it
            and getattr(request, "_force_auth_user", None) is None
            and getattr(request, "_force_auth_token", None) is None
            # The session's user, as SessionAuthentication reads it (an
            # active user; its CSRF check lets every GET through), or nobody.
            and (not request.user.is_authenticated or request.user.is_active)
        )

    @staticmethod
    def _base_url(request) -> str:
        return request.build_absolute_uri(reverse("api-creators"))

    def _build(self, request, query, *, hidden=frozenset()) -> dict:
        base_url = self._base_url(request)
        page = selectors.explore(query, hidden=hidden)
        next_url = f"{base_url}?{urlencode(query.as_params(cursor=page.next_cursor))}" if page.next_cursor else None
        return {"results": page.creators, "next_cursor": page.next_cursor, "next": next_url}

    @staticmethod
    def _json(body: bytes, renderer) -> HttpResponse:
        charset = f"; charset={renderer.charset}" if renderer.charset else ""
        return HttpResponse(body, content_type=f"{renderer.media_type}{charset}")

    def _shared_json(self, request, query, renderer, media_type) -> HttpResponse:
        # Share the rendered bytes, so a hit neither unpickles 24 cards nor
        # encodes them again.
        body = selectors.anonymous_explore_cached(
            ("api-json", self._base_url(request), media_type, query),
            lambda: renderer.render(self._build(request, query), media_type, {}),
        )
        return self._json(body, renderer)


class CreatorDetailView(APIView):
    """One creator's public profile."""

    permission_classes = [AllowAny]

    @extend_schema(responses=CreatorCardSerializer)
    def get(self, request, username):
        return Response(selectors.profile_card(username, viewer=request.user))


class CreatorMeView(APIView):
    """The signed-in creator's own profile: read it, change it (PATCH, partial)."""

    permission_classes = [IsAuthenticated]

    def _card(self, user):
        if selectors.own_profile(user) is None:
            raise NotACreator()
        # The same per-request facts as every other card: availability and is_live.
        return selectors.decorate_cards([selectors.cards_for([user.pk])[str(user.pk)]])[0]

    @extend_schema(responses=CreatorCardSerializer)
    def get(self, request):
        return Response(self._card(request.user))

    @extend_schema(request=ProfileUpdateSerializer, responses=CreatorCardSerializer)
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data)
        if not hasattr(request.data, "keys"):
            raise InvalidInput("Send a JSON object.", code="malformed_request")
        unknown = sorted(set(request.data.keys()) - set(serializer.fields))
        if unknown:
            raise InvalidInput(
                "Unknown fields.", fields={name: ["Not a profile field."] for name in unknown}, code="unknown_field"
            )
        serializer.is_valid(raise_exception=True)
        services.update_creator_profile(user=request.user, **serializer.validated_data)
        return Response(self._card(request.user))


class FollowView(APIView):
    """Follow (POST) or unfollow (DELETE) a creator. Both are idempotent."""

    permission_classes = [IsAuthenticated]

    def _answer(self, request, username, *, following: bool, changed: bool):
        card = selectors.profile_card(username, viewer=request.user)
        return Response({"following": following, "changed": changed, "follower_count": card["follower_count"]})

    @extend_schema(request=None, responses={200: FollowStateSerializer})
    def post(self, request, username):
        card = selectors.profile_card(username, viewer=request.user)
        changed = services.follow_creator(follower=request.user, creator_user_id=card["id"])
        return self._answer(request, username, following=True, changed=changed)

    @extend_schema(request=None, responses={200: FollowStateSerializer})
    def delete(self, request, username):
        card = selectors.profile_card(username, viewer=request.user)
        changed = services.unfollow_creator(follower=request.user, creator_user_id=card["id"])
        return self._answer(request, username, following=False, changed=changed)
