"""Sign-in lockout: 5 failures per account and per IP in 15 minutes -> 429 + Retry-After."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

GOOD = "correct-horse-battery-staple"


def _attempt(client, username, password, ip="10.0.0.1"):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


def test_sixth_attempt_is_429_for_existing_and_unknown_accounts_alike(alice):
    client = APIClient()
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(5):
            assert _attempt(client, "alice", "wrong-password", ip=f"10.0.1.{i}").status_code == 401
            assert _attempt(client, "ghost", "wrong-password", ip=f"10.0.2.{i}").status_code == 401
        existing = _attempt(client, "alice", GOOD, ip="10.0.3.1")  # even the right password waits
        unknown = _attempt(client, "ghost", GOOD, ip="10.0.3.2")
    for response in (existing, unknown):
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert existing.json()["error"]["message"] == unknown.json()["error"]["message"]


def test_username_and_email_share_one_budget_and_it_expires(alice):
    client = APIClient()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for i in range(3):
            _attempt(client, "alice", "nope", ip=f"10.1.0.{i}")
        for i in range(2):
            _attempt(client, "ALICE@example.test", "nope", ip=f"10.1.1.{i}")
        assert _attempt(client, "alice", GOOD, ip="10.1.2.1").status_code == 429
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert _attempt(client, "alice", GOOD, ip="10.1.2.1").status_code == 200


def test_one_ip_is_limited_across_accounts(alice, mallory):
    client = APIClient()
    with time_machine.travel(timezone.now(), tick=False):
        for name in ["u1", "u2", "u3", "u4", "u5"]:
            assert _attempt(client, name, "nope", ip="10.9.9.9").status_code == 401
        response = _attempt(client, "mallory", GOOD, ip="10.9.9.9")
        assert response.status_code == 429 and "Retry-After" in response
        # another address is not affected
        assert _attempt(client, "mallory", GOOD, ip="10.9.9.10").status_code == 200


def test_successful_sign_ins_do_not_count(alice):
    client = APIClient()
    for _ in range(8):
        assert _attempt(client, "alice", GOOD).status_code == 200


def test_login_page_lockout_is_429_with_retry_after(alice, page):
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(5):
            assert page.post("/accounts/login/", {"username": "alice", "password": "nope"}).status_code == 400
        response = page.post("/accounts/login/", {"username": "alice", "password": GOOD})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in page.session


def test_signup_and_reset_are_limited(db, settings):
    settings.ACCOUNTS_SIGNUP_RATE_PER_IP = "2/h"
    client = APIClient()
    for i in range(2):
        client.post("/api/auth/register/", {"username": f"n{i}", "email": f"n{i}@example.test", "password": "a-long-enough-secret-42"}, format="json")
    response = client.post("/api/auth/register/", {"username": "n9", "email": "n9@example.test", "password": "a-long-enough-secret-42"}, format="json")
    assert response.status_code == 429 and "Retry-After" in response
    for _ in range(3):
        assert client.post("/api/auth/password-reset/", {"email": "x@example.test"}, format="json").status_code == 202
    response = client.post("/api/auth/password-reset/", {"email": "x@example.test"}, format="json")
    assert response.status_code == 429


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_get_exactly_the_allowed_failures(alice):
    # Checking the budget and then recording the failure let all 20 through;
    # each attempt now takes its unit first.
    from digis.testing import run_concurrently

    def attempt(i):
        return _attempt(APIClient(), "alice", "wrong-password", ip=f"10.7.{i}.1").status_code

    statuses = run_concurrently([lambda i=i: attempt(i) for i in range(20)])
    assert sorted(statuses).count(401) == 5
    assert sorted(statuses).count(429) == 15


def test_a_locked_account_still_lets_its_owner_in_from_a_device_they_used_before(alice):
    owner = APIClient()
    assert _attempt(owner, "alice", GOOD, ip="10.8.0.1").status_code == 200  # the owner's browser, earlier
    assert "digis_device" in owner.cookies
    stranger = APIClient()
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(6):
            _attempt(stranger, "alice", "guess", ip=f"10.8.1.{i}")
        assert _attempt(APIClient(), "alice", GOOD, ip="10.8.2.1").status_code == 429  # a new device waits
        assert _attempt(owner, "alice", GOOD, ip="10.8.2.1").status_code == 200  # the owner does not


def test_a_device_cookie_for_another_account_is_no_key(alice, mallory):
    client = APIClient()
    assert _attempt(client, "mallory", GOOD).status_code == 200  # mallory's own device cookie
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(5):
            _attempt(APIClient(), "alice", "guess", ip=f"10.9.1.{i}")
        assert _attempt(client, "alice", GOOD).status_code == 429


def test_a_device_guessing_on_its_own_account_is_limited_too(alice):
    client = APIClient()
    assert _attempt(client, "alice", GOOD).status_code == 200
    with time_machine.travel(timezone.now(), tick=False):
        statuses = [_attempt(client, "alice", "guess", ip=f"10.10.0.{i}").status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
