"""The admin's user forms go through accounts.services: audited, caches dropped, credentials revoked."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuditEntry, Role, User
from accounts.tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(settings):
    settings.ACCOUNTS_ADMIN_REQUIRES_OTP = False
    root = make_user("root", role=Role.ADMIN, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    client.root = root
    return client


def _token(username):
    response = APIClient().post("/api/auth/token/", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access"]


def _me(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/me/").status_code


def test_a_password_set_in_the_admin_ends_every_token_and_is_audited(admin_client, alice):
    token = _token("alice")
    assert _me(token) == 200
    response = admin_client.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"password1": "a-brand-new-secret-42", "password2": "a-brand-new-secret-42", "usable_password": "true",
         "change_reason": "She asked by phone"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert _me(token) == 401
    alice.refresh_from_db()
    assert alice.check_password("a-brand-new-secret-42")
    entry = AuditEntry.objects.get(action="user.admin_set_password")
    assert entry.actor == admin_client.root and entry.reason == "She asked by phone"


def _change_form_data(user, **changes):
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "is_active": "on" if user.is_active else "", "role": user.role, "display_name": user.display_name,
        "email_verified": "on" if user.email_verified else "", "last_login_0": "", "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"), "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "change_reason": "Support ticket 42",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_role_and_name_changes_are_audited_and_revoke_when_they_matter(admin_client, alice):
    token = _token("alice")
    response = admin_client.post(
        f"/admin/accounts/user/{alice.pk}/change/", _change_form_data(alice, display_name="Alice A.", role="creator")
    )
    assert response.status_code == 302, response.content[:3000]
    alice.refresh_from_db()
    assert (alice.display_name, alice.role) == ("Alice A.", "creator")
    entry = AuditEntry.objects.get(action="user.admin_edit")
    assert entry.before["role"] == "fan" and entry.after["role"] == "creator"
    assert entry.after["display_name"] == "Alice A."
    assert _me(token) == 401  # a role change ends the old credentials


def test_a_change_without_a_reason_is_refused(admin_client, alice):
    data = _change_form_data(alice, display_name="Nope")
    data.pop("change_reason")
    response = admin_client.post(f"/admin/accounts/user/{alice.pk}/change/", data)
    assert response.status_code == 200  # the form again, with its error
    alice.refresh_from_db()
    assert alice.display_name == ""
    assert not AuditEntry.objects.exists()


def test_only_an_administrator_may_grant_staff(settings, alice):
    from django.contrib.auth.models import Permission

    settings.ACCOUNTS_ADMIN_REQUIRES_OTP = False
    helper = make_user("helper", role=Role.MODERATOR, is_staff=True)
    helper.user_permissions.add(*Permission.objects.filter(codename__in=["change_user", "view_user"]))
    client = Client()
    client.force_login(helper)
    response = client.post(f"/admin/accounts/user/{alice.pk}/change/", _change_form_data(alice, is_staff="on"))
    assert response.status_code in (200, 403)
    alice.refresh_from_db()
    assert not alice.is_staff


def test_adding_a_user_opens_a_wallet_and_is_audited(admin_client):
    response = admin_client.post("/admin/accounts/user/add/", {
        "username": "newbie", "email": "newbie@example.test", "usable_password": "true",
        "password1": "a-long-enough-secret-42", "password2": "a-long-enough-secret-42", "change_reason": "Press account",
    })
    assert response.status_code == 302, response.content[:3000]
    user = User.objects.get(username="newbie")
    from ledger.models import Account

    assert Account.objects.filter(user=user, kind="wallet").exists()
    assert AuditEntry.objects.filter(action="user.admin_create", target_id=str(user.pk)).exists()
