"""Bans, suspensions and deletion: audited, and every credential stops at once."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import AuditEntry, Block, Role, User
from accounts.tests.factories import make_user
from digis.errors import DomainError

pytestmark = pytest.mark.django_db
GOOD = "correct-horse-battery-staple"


def _pair(username):
    return APIClient().post("/api/auth/token/", {"username": username, "password": GOOD}, format="json").json()


def _bearer(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_ban_writes_an_audit_row_and_stops_tokens_and_sessions(alice, moderator):
    pair = _pair("alice")
    browser = Client()
    browser.force_login(alice)
    assert browser.get("/settings/").status_code == 200
    # when a moderator bans alice
    services.ban_user(actor=moderator, user=alice, reason="Spam in messages")
    # then the audit row names actor, reason, before and after
    entry = AuditEntry.objects.get(action="user.ban")
    assert entry.actor == moderator and entry.target_id == str(alice.pk) and entry.reason == "Spam in messages"
    assert entry.before["banned_at"] is None and entry.after["banned_at"] is not None
    # and every credential stops
    response = _bearer(pair["access"]).get("/api/me/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "account_banned"
    response = APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401
    assert browser.get("/settings/").status_code == 302  # the session is gone
    response = APIClient().post("/api/auth/token/", {"username": "alice", "password": GOOD}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_banned"


def test_suspension_ends_by_itself_and_unban_is_audited(alice, moderator):
    until = timezone.now() + timedelta(days=3)
    services.ban_user(actor=moderator, user=alice, reason="Cool-off", until=until)
    alice.refresh_from_db()
    assert alice.is_banned
    with time_machine.travel(until + timedelta(minutes=1)):
        alice.refresh_from_db()
        assert not alice.is_banned
        assert APIClient().post("/api/auth/token/", {"username": "alice", "password": GOOD}, format="json").status_code == 200
    services.ban_user(actor=moderator, user=alice, reason="Again")
    services.unban_user(actor=moderator, user=alice, reason="Appeal accepted")
    alice.refresh_from_db()
    assert not alice.is_banned
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == ["user.suspend", "user.ban", "user.unban"]


def test_who_may_ban_whom(alice, mallory, moderator):
    with pytest.raises(DomainError):
        services.ban_user(actor=mallory, user=alice, reason="I don't like her")
    with pytest.raises(DomainError):
        services.ban_user(actor=moderator, user=moderator, reason="oops")
    admin = make_user("root", role=Role.ADMIN, is_staff=True, is_superuser=True)
    with pytest.raises(DomainError):
        services.ban_user(actor=moderator, user=admin, reason="coup")
    with pytest.raises(DomainError):
        services.ban_user(actor=moderator, user=alice, reason="   ")
    assert not AuditEntry.objects.exists()
    alice.refresh_from_db()
    assert not alice.is_banned


def test_moderators_group_has_exactly_the_moderation_permissions(moderator):
    perms = set(Group.objects.get(name="moderators").permissions.values_list("content_type__app_label", "codename"))
    # (moderation/migrations/0003 adds the reports queue: moderation.moderate_report)
    assert perms == {("accounts", "view_user"), ("accounts", "ban_user"), ("accounts", "view_block"), ("accounts", "view_auditentry"),
                     ("moderation", "moderate_report")}
    assert not any(app == "ledger" for app, _ in perms)
    assert moderator.has_perm("accounts.ban_user") and not moderator.has_perm("accounts.change_user")


def _verified_admin_client(user):
    """A browser session that signed in with a second factor (a static backup code)."""
    from django_otp.plugins.otp_static.models import StaticDevice

    device = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    device.token_set.create(token="abcd1234")
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": GOOD, "otp_token": "abcd1234"})
    assert response.status_code == 302, response.content
    return client


def test_admin_needs_a_second_factor(moderator):
    client = Client()
    client.force_login(moderator)  # password only, no OTP in this session
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
    client = _verified_admin_client(moderator)
    assert client.get("/admin/accounts/user/").status_code == 200


def test_moderator_bans_through_the_admin_action(alice, moderator):
    client = _verified_admin_client(moderator)
    form = {"action": "ban", "_selected_action": [str(alice.pk)]}
    response = client.post("/admin/accounts/user/", form)
    assert response.status_code == 200 and b"reason" in response.content  # the reason form
    response = client.post("/admin/accounts/user/", {**form, "apply": "1", "reason": "Harassment"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.is_banned and alice.ban_reason == "Harassment"
    assert AuditEntry.objects.get().actor == moderator
    # moderators cannot edit users directly, nor touch the audit trail
    assert client.post(f"/admin/accounts/user/{alice.pk}/change/", {"username": "x"}).status_code == 403
    assert client.get(f"/admin/accounts/auditentry/{AuditEntry.objects.get().pk}/delete/").status_code == 403


def test_deletion_scrubs_personal_data_and_keeps_the_tombstone(alice, bob):
    from ledger.services import open_wallet

    wallet = open_wallet(user=alice)
    services.block_user(blocker=alice, blocked=bob)
    pair = _pair("alice")
    response = _bearer(pair["access"]).post("/api/me/delete/", {"password": "wrong"}, format="json")
    assert response.status_code == 400
    response = _bearer(pair["access"]).post("/api/me/delete/", {"password": GOOD}, format="json")
    assert response.status_code == 204
    tombstone = User.objects.get(pk=alice.pk)
    assert tombstone.deleted_at and not tombstone.is_active and not tombstone.has_usable_password()
    assert "alice" not in tombstone.username and "alice" not in tombstone.email
    assert tombstone.display_name == tombstone.first_name == tombstone.last_name == ""
    wallet.refresh_from_db()
    assert wallet.user_id == alice.pk  # money history still points at the row
    assert not Block.objects.exists()
    assert _bearer(pair["access"]).get("/api/me/").status_code == 401
    assert APIClient().get(f"/api/users/{alice.pk}/").status_code == 404
    # the name is free again
    make_user("alice", email="alice@example.test")
