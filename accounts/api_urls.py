from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="api-register"),
    path("auth/verify/", api.VerifyEmailView.as_view(), name="api-verify"),
    path("auth/verify/resend/", api.ResendVerificationView.as_view(), name="api-verify-resend"),
    path("auth/token/", api.TokenObtainView.as_view(), name="api-token"),
    path("auth/token/refresh/", api.TokenRefreshView.as_view(), name="api-token-refresh"),
    path("auth/logout/", api.LogoutView.as_view(), name="api-logout"),
    path("auth/password-reset/", api.PasswordResetView.as_view(), name="api-password-reset"),
    path("auth/password-reset/confirm/", api.PasswordResetConfirmView.as_view(), name="api-password-reset-confirm"),
    path("me/", api.MeView.as_view(), name="api-me"),
    path("me/avatar/", api.AvatarView.as_view(), name="api-me-avatar"),
    path("me/email/", api.ChangeEmailView.as_view(), name="api-me-email"),
    path("me/password/", api.ChangePasswordView.as_view(), name="api-me-password"),
    path("me/delete/", api.DeleteAccountView.as_view(), name="api-me-delete"),
    path("me/become-creator/", api.BecomeCreatorView.as_view(), name="api-me-become-creator"),
    path("me/blocks/", api.BlockedUsersView.as_view(), name="api-me-blocks"),
    path("users/<uuid:id>/", api.PublicUserView.as_view(), name="api-user"),
    path("users/<uuid:id>/block/", api.BlockView.as_view(), name="api-user-block"),
]
