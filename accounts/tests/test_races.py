"""Races on PostgreSQL: real threads, real unique indexes."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from digis.testing import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]


def test_two_sign_ups_with_the_same_email_differently_cased():
    def sign_up(username, email):
        def run():
            return APIClient().post(
                "/api/auth/register/",
                {"username": username, "email": email, "password": "a-long-enough-secret-42"},
                format="json", REMOTE_ADDR=f"10.2.0.{len(username)}",
            )
        return run

    for attempt in range(3):
        first, second = run_concurrently([sign_up(f"racer{attempt}a", f"Race{attempt}@Example.test"), sign_up(f"racer{attempt}bb", f"race{attempt}@example.TEST")])
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [201, 400], (first.content, second.content)
        loser = first if first.status_code == 400 else second
        assert "email" in loser.json()["error"]["fields"]
        assert User.objects.filter(email__iexact=f"race{attempt}@example.test").count() == 1


def test_two_refreshes_of_one_token_never_both_win(alice):
    client = APIClient()
    pair = client.post("/api/auth/token/", {"username": "alice", "password": "correct-horse-battery-staple"}, format="json").json()

    def refresh():
        return APIClient().post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json").status_code

    results = run_concurrently([refresh, refresh, refresh])
    assert results.count(200) <= 1
    assert all(code in (200, 401) for code in results)
