"""Accounts API: registration, tokens, the signed-in user's settings, blocks."""

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import limits, selectors, services, tokens
from accounts.exceptions import TokenInvalid, TooManyAttempts
from accounts.models import User
from digis import fields


class PublicUserSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "role", "avatar_url"]

    def get_display_name(self, user) -> str:
        return user.public_name

    def get_avatar_url(self, user) -> str | None:
        return user.avatar.url if user.avatar else None


class MeSerializer(PublicUserSerializer):
    has_2fa = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "email_verified", "display_name", "role", "avatar_url", "has_2fa", "created_at"]

    def get_has_2fa(self, user) -> bool:
        from django_otp import user_has_device

        return user_has_device(user, confirmed=True)


class AccountsAPIView(APIView):
    """Adds Retry-After to the 429 our limits raise (DomainErrors carry no headers)."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, TooManyAttempts) and "retry_after" in exc.extra:
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response


class PublicUserView(APIView):
    """What anyone may know about a user: id, username, display name, role, avatar."""

    permission_classes = [AllowAny]
    serializer_class = PublicUserSerializer

    def get(self, request, id):
        user = get_object_or_404(User, pk=id, is_active=True)
        return Response(PublicUserSerializer(user).data)


# --- registration and verification ------------------------------------------

class RegisterSerializer(serializers.Serializer):
    username = fields.CharField(max_length=150)
    email = fields.CharField(max_length=254)
    password = fields.CharField(max_length=4096, write_only=True, trim_whitespace=False)
    display_name = fields.CharField(max_length=80, required=False, allow_blank=True, default="")


class RegisterView(AccountsAPIView):
    """POST /api/auth/register/: create a fan account (sends a verification link)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = RegisterSerializer

    def post(self, request):
        limits.consume_signup(request)
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.register_user(**data.validated_data)
        return Response(MeSerializer(user).data, status=status.HTTP_201_CREATED)


class VerifyEmailSerializer(serializers.Serializer):
    token = fields.CharField(max_length=1000)


class VerifyEmailView(AccountsAPIView):
    """POST /api/auth/verify/ {token}: the token from the e-mailed link."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = VerifyEmailSerializer

    def post(self, request):
        data = VerifyEmailSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.verify_email(token=data.validated_data["token"])
        return Response({"email_verified": user.email_verified})


class ResendVerificationView(AccountsAPIView):
    @extend_schema(request=None, responses={202: None})
    def post(self, request):
        limits.consume(request, group="accounts.verify.resend", rate="5/h", value=str(request.user.pk))
        services.request_verification_email(user=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


# --- tokens -------------------------------------------------------------------

class TokenObtainSerializer(serializers.Serializer):
    username = fields.CharField(max_length=254, help_text="Username or e-mail.")
    password = fields.CharField(max_length=4096, trim_whitespace=False, write_only=True)
    otp_token = fields.CharField(max_length=16, required=False, allow_blank=True)


class TokenObtainView(AccountsAPIView):
    """POST /api/auth/token/: access + refresh token for username/e-mail and password (+ TOTP code)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = TokenObtainSerializer

    def post(self, request):
        data = TokenObtainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, _device = services.authenticate_user(
            request=request,
            identifier=data.validated_data["username"],
            password=data.validated_data["password"],
            otp_token=data.validated_data.get("otp_token") or None,
        )
        response = Response(tokens.issue_token_pair(user=user))
        # Clients that keep cookies are a trusted device from now on: a lockout
        # of this account by strangers does not lock them out (accounts/limits.py).
        limits.remember_device(response, user)
        return response


class RefreshSerializer(serializers.Serializer):
    refresh = fields.CharField(max_length=4096)


class TokenRefreshView(AccountsAPIView):
    """POST /api/auth/token/refresh/: spend a refresh token for a new pair (rotation, reuse detection)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = RefreshSerializer

    def post(self, request):
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(tokens.rotate_refresh_token(raw=data.validated_data["refresh"]))


class LogoutSerializer(serializers.Serializer):
    refresh = fields.CharField(max_length=4096, required=False)
    everywhere = fields.BooleanField(required=False, default=False)


class LogoutView(AccountsAPIView):
    """POST /api/auth/logout/ {refresh}: end that session's token family.

    With {"everywhere": true} (authenticated), every session, token and socket
    of the user ends.
    """

    permission_classes = [AllowAny]
    serializer_class = LogoutSerializer

    def post(self, request):
        data = LogoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["everywhere"]:
            if not request.user.is_authenticated:
                from rest_framework.exceptions import NotAuthenticated

                raise NotAuthenticated()
            services.sign_out_everywhere(user=request.user)
        elif data.validated_data.get("refresh"):
            user = request.user if request.user.is_authenticated else None
            tokens.revoke_refresh_family(raw=data.validated_data["refresh"], user=user)
        else:
            raise TokenInvalid("Send the refresh token to sign out.", fields={"refresh": ["This field is required."]})
        if request.user.is_authenticated and getattr(request, "session", None) is not None and request.session.session_key:
            from django.contrib.auth import logout

            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- password reset -----------------------------------------------------------

class PasswordResetSerializer(serializers.Serializer):
    email = fields.EmailField()


class PasswordResetView(AccountsAPIView):
    """POST /api/auth/password-reset/ {email}: always 202, whether or not the account exists."""

    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = PasswordResetSerializer

    def post(self, request):
        data = PasswordResetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        limits.consume_password_reset(request, email=data.validated_data["email"])
        services.request_password_reset(email=data.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = fields.CharField(max_length=100)
    token = fields.CharField(max_length=200)
    new_password = fields.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class PasswordResetConfirmView(AccountsAPIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    serializer_class = PasswordResetConfirmSerializer

    def post(self, request):
        data = PasswordResetConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = User.objects.get(pk=force_str(urlsafe_base64_decode(data.validated_data["uid"])), is_active=True)
        except (ValueError, TypeError, OverflowError, DjangoValidationError, User.DoesNotExist):
            user = None
        if user is None or not default_token_generator.check_token(user, data.validated_data["token"]):
            raise TokenInvalid("This reset link is not valid any more.", code="invalid_link")
        services.set_new_password(user=user, new_password=data.validated_data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the signed-in user -------------------------------------------------------

class MeUpdateSerializer(serializers.Serializer):
    display_name = fields.CharField(max_length=80, required=False, allow_blank=True)


class MeView(AccountsAPIView):
    """GET/PATCH /api/me/: the signed-in user's own settings (nobody else's, ever)."""

    permission_classes = [IsAuthenticated]
    serializer_class = MeUpdateSerializer

    def get(self, request):
        return Response(MeSerializer(request.user).data)

    def patch(self, request):
        data = MeUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.update_profile(user=request.user, **data.validated_data)
        return Response(MeSerializer(user).data)


class AvatarSerializer(serializers.Serializer):
    avatar = serializers.FileField()


class AvatarView(AccountsAPIView):
    """PUT /api/me/avatar/ (multipart, field `avatar`); DELETE removes it."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = AvatarSerializer

    @extend_schema(request={"multipart/form-data": AvatarSerializer}, responses=MeSerializer)
    def put(self, request):
        data = AvatarSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.set_avatar(user=request.user, upload=data.validated_data["avatar"])
        return Response(MeSerializer(user).data)

    @extend_schema(request={"multipart/form-data": AvatarSerializer}, responses=MeSerializer)
    def post(self, request):
        return self.put(request)

    @extend_schema(responses={204: None})
    def delete(self, request):
        services.remove_avatar(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChangeEmailSerializer(serializers.Serializer):
    email = fields.CharField(max_length=254)
    password = fields.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class ChangeEmailView(AccountsAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = ChangeEmailSerializer

    def post(self, request):
        data = ChangeEmailSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.change_email(user=request.user, password=data.validated_data["password"], new_email=data.validated_data["email"])
        return Response(MeSerializer(user).data)


class ChangePasswordSerializer(serializers.Serializer):
    current_password = fields.CharField(max_length=4096, trim_whitespace=False, write_only=True)
    new_password = fields.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class ChangePasswordView(AccountsAPIView):
    """POST /api/me/password/: every other session and token ends; a fresh token pair is returned."""

    permission_classes = [IsAuthenticated]
    serializer_class = ChangePasswordSerializer

    def post(self, request):
        data = ChangePasswordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.change_password(user=request.user, **data.validated_data)
        return Response(tokens.issue_token_pair(user=user))


class DeleteAccountSerializer(serializers.Serializer):
    password = fields.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class DeleteAccountView(AccountsAPIView):
    """POST /api/me/delete/ {password}: scrub the account (tombstone) and sign out everywhere."""

    permission_classes = [IsAuthenticated]
    serializer_class = DeleteAccountSerializer

    def post(self, request):
        data = DeleteAccountSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.delete_account_with_password(user=request.user, password=data.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class BecomeCreatorView(AccountsAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=MeSerializer)
    def post(self, request):
        services.become_creator(user=request.user)
        return Response(MeSerializer(request.user).data)


# --- blocks -------------------------------------------------------------------

class BlockedUsersView(AccountsAPIView):
    """GET /api/me/blocks/: whom I blocked."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=inline_serializer("BlockedUser", {"user": PublicUserSerializer(), "created_at": serializers.DateTimeField()}, many=True))
    def get(self, request):
        blocks = selectors.blocks_made_by(request.user)
        return Response(
            [{"user": PublicUserSerializer(block.blocked).data, "created_at": block.created_at} for block in blocks]
        )


class BlockView(AccountsAPIView):
    """POST/DELETE /api/users/{id}/block/: block or unblock someone. Both idempotent."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: inline_serializer("BlockResult", {"blocked": fields.BooleanField(), "user": PublicUserSerializer()})})
    def post(self, request, id):
        other = get_object_or_404(User, pk=id, is_active=True)
        services.block_user(blocker=request.user, blocked=other)
        return Response({"blocked": True, "user": PublicUserSerializer(other).data}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, id):
        other = get_object_or_404(User, pk=id)
        services.unblock_user(blocker=request.user, blocked=other)
        return Response(status=status.HTTP_204_NO_CONTENT)
