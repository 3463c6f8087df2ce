from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/verify/<str:token>/", views.verify, name="verify"),
    path("accounts/password-reset/", views.password_reset, name="password-reset"),
    path("accounts/password-reset/sent/", views.password_reset_done, name="password-reset-done"),
    path("accounts/password-reset/<uidb64>/<token>/", views.PasswordResetConfirm.as_view(), name="password-reset-confirm"),
    path("accounts/password-reset/complete/", views.password_reset_complete, name="password-reset-complete"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/profile/", views.settings_profile, name="settings-profile"),
    path("settings/avatar/", views.settings_avatar, name="settings-avatar"),
    path("settings/email/", views.settings_email, name="settings-email"),
    path("settings/password/", views.settings_password, name="settings-password"),
    path("settings/2fa/", views.settings_2fa, name="settings-2fa"),
    path("settings/2fa/disable/", views.settings_2fa_disable, name="settings-2fa-disable"),
    path("settings/blocks/<uuid:id>/unblock/", views.settings_unblock, name="settings-unblock"),
    path("settings/become-creator/", views.settings_become_creator, name="settings-become-creator"),
    path("settings/delete/", views.settings_delete, name="settings-delete"),
    path("users/<uuid:id>/block/", views.block, name="block"),
]
