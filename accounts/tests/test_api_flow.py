"""The API round trip: sign-up -> verify -> sign-in -> refresh -> logout, and refresh-token reuse."""

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import RefreshToken, User

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-secret-42"


def _register(client, username="carol", email="Carol@Example.test"):
    return client.post("/api/auth/register/", {"username": username, "email": email, "password": PASSWORD}, format="json")


def _link_token(message) -> str:
    return re.search(r"/accounts/verify/([^/\s]+)/", message.body).group(1)


def test_full_round_trip_over_the_api(django_capture_on_commit_callbacks, eager_tasks):
    from ledger.services import balance_of

    client = APIClient()
    # given a sign-up
    with django_capture_on_commit_callbacks(execute=True):
        response = _register(client)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email_verified"] is False and "password" not in body
    user = User.objects.get(pk=body["id"])
    assert user.check_password(PASSWORD)
    assert balance_of(user=user) == 0  # the wallet was opened with the account
    # when the link from the e-mail is confirmed
    assert len(mail.outbox) == 1
    token = _link_token(mail.outbox[0])
    response = client.post("/api/auth/verify/", {"token": token}, format="json")
    assert response.status_code == 200 and response.json() == {"email_verified": True}
    # then sign-in (by e-mail, any case) gives a pair
    response = client.post("/api/auth/token/", {"username": "carol@example.TEST", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    pair = response.json()
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert me.get("/api/me/").json()["username"] == "carol"
    # refresh rotates
    response = client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh"] != pair["refresh"]
    # logout ends that family
    response = client.post("/api/auth/logout/", {"refresh": rotated["refresh"]}, format="json")
    assert response.status_code == 204
    response = client.post("/api/auth/token/refresh/", {"refresh": rotated["refresh"]}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_revoked"


def test_reused_refresh_token_logs_the_whole_family_out(alice):
    client = APIClient()
    pair = client.post("/api/auth/token/", {"username": "alice", "password": "correct-horse-battery-staple"}, format="json").json()
    other_session = client.post("/api/auth/token/", {"username": "alice", "password": "correct-horse-battery-staple"}, format="json").json()
    first = client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json").json()
    # an attacker replays the old refresh token
    response = client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "refresh_token_reused"
    # the legitimate holder's newer token of the same family is dead too
    response = client.post("/api/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 401
    # a different sign-in (another family) is untouched
    response = client.post("/api/auth/token/refresh/", {"refresh": other_session["refresh"]}, format="json")
    assert response.status_code == 200
    assert RefreshToken.objects.filter(user=alice, revoked_at__isnull=True, used_at__isnull=True).count() == 1


def test_duplicate_username_or_email_is_a_field_error(alice):
    client = APIClient()
    response = _register(client, username="ALICE", email="new@example.test")
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]
    response = _register(client, username="someone", email="ALICE@example.test")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]


def test_weak_password_and_garbage_are_400_never_500(db):
    client = APIClient()
    response = client.post("/api/auth/register/", {"username": "dave", "email": "dave@example.test", "password": "123"}, format="json")
    assert response.status_code == 400 and "password" in response.json()["error"]["fields"]
    response = client.post("/api/auth/register/", {"username": "bad name!", "email": "nope", "password": PASSWORD}, format="json")
    assert response.status_code == 400 and {"username", "email"} <= set(response.json()["error"]["fields"])
    assert client.post("/api/auth/token/refresh/", {"refresh": "garbage"}, format="json").status_code == 401
    assert client.post("/api/auth/verify/", {"token": "garbage"}, format="json").status_code == 401
    assert not User.objects.filter(username__in=["dave", "bad name!"]).exists()


def test_sign_in_errors_do_not_reveal_whether_the_account_exists(alice):
    client = APIClient()
    wrong = client.post("/api/auth/token/", {"username": "alice", "password": "nope-nope-nope"}, format="json")
    missing = client.post("/api/auth/token/", {"username": "nobody", "password": "nope-nope-nope"}, format="json")
    assert wrong.status_code == missing.status_code == 401
    assert wrong.json()["error"]["code"] == missing.json()["error"]["code"] == "invalid_credentials"
    assert wrong.json()["error"]["message"] == missing.json()["error"]["message"]


def test_password_reset_over_the_api_ends_old_tokens(alice, eager_tasks, django_capture_on_commit_callbacks):
    client = APIClient()
    pair = client.post("/api/auth/token/", {"username": "alice", "password": "correct-horse-battery-staple"}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/auth/password-reset/", {"email": "ALICE@example.test"}, format="json").status_code == 202
        assert client.post("/api/auth/password-reset/", {"email": "ghost@example.test"}, format="json").status_code == 202
    assert len(mail.outbox) == 1
    uid, token = re.search(r"/accounts/password-reset/([^/]+)/([^/]+)/", mail.outbox[0].body).groups()
    response = client.post("/api/auth/password-reset/confirm/", {"uid": uid, "token": token, "new_password": "brand-new-secret-99"}, format="json")
    assert response.status_code == 204
    # the link works once
    response = client.post("/api/auth/password-reset/confirm/", {"uid": uid, "token": token, "new_password": "another-secret-77x"}, format="json")
    assert response.status_code == 401
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert bearer.get("/api/me/").json()["error"]["code"] == "token_revoked"
    assert client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json").status_code == 401
    assert client.post("/api/auth/token/", {"username": "alice", "password": "brand-new-secret-99"}, format="json").status_code == 200


def test_totp_is_required_when_the_account_has_a_device(alice):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    client = APIClient()
    creds = {"username": "alice", "password": "correct-horse-battery-staple"}
    response = client.post("/api/auth/token/", creds, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_required"
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    response = client.post("/api/auth/token/", {**creds, "otp_token": code}, format="json")
    assert response.status_code == 200, response.json()
    # the same code cannot be replayed
    response = client.post("/api/auth/token/", {**creds, "otp_token": code}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_invalid"
