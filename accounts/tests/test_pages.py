"""The same round trip through the server-rendered pages."""

import re

import pytest
from django.core import mail

from accounts.models import User

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-secret-42"


def test_sign_up_verify_sign_out_sign_in_through_the_pages(page, django_capture_on_commit_callbacks, eager_tasks):
    assert page.get("/accounts/signup/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post("/accounts/signup/", {"username": "erin", "email": "erin@example.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert page.get("/settings/").status_code == 200
    link = re.search(r"(/accounts/verify/[^/\s]+/)", mail.outbox[0].body).group(1)
    assert page.get(link).status_code == 200
    assert User.objects.get(username="erin").email_verified
    assert page.get("/accounts/verify/forged-token/").status_code == 400
    # sign out (POST only), then back in
    assert page.get("/accounts/logout/").status_code == 200
    assert page.post("/accounts/logout/").status_code == 302
    assert page.get("/settings/").status_code == 302
    response = page.post("/accounts/login/", {"username": "erin", "password": "wrong-one"})
    assert response.status_code == 400
    response = page.post("/accounts/login/", {"username": "ERIN", "password": PASSWORD, "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert page.get("/settings/").status_code == 200


def test_duplicate_sign_up_page_shows_a_field_error(page, alice):
    response = page.post("/accounts/signup/", {"username": "Alice", "email": "other@example.test", "password": PASSWORD})
    assert response.status_code == 400 and b"This username is taken." in response.content


def test_password_reset_pages(page, alice, eager_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert page.post("/accounts/password-reset/", {"email": "alice@example.test"}).status_code == 302
    path = re.search(r"(/accounts/password-reset/[^/\s]+/[^/\s]+/)", mail.outbox[0].body).group(1)
    response = page.get(path)  # Django swaps the token into the session and redirects
    assert response.status_code == 302
    response = page.post(response["Location"], {"new_password1": "fresh-secret-2026!", "new_password2": "fresh-secret-2026!"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/complete/"
    alice.refresh_from_db()
    assert alice.check_password("fresh-secret-2026!") and alice.auth_version == 1


def test_settings_page_forms(page, alice, bob, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    from accounts import services

    services.block_user(blocker=alice, blocked=bob)
    page.force_login(alice)
    response = page.get("/settings/")
    assert response.status_code == 200 and b"bob" in response.content and b"Become a creator" in response.content
    assert page.post("/settings/profile/", {"display_name": "Alice A."}).status_code == 302
    assert page.post(f"/settings/blocks/{bob.pk}/unblock/").status_code == 302
    response = page.post("/settings/avatar/", {"avatar": __import__("io").BytesIO(b"not an image")})
    assert response.status_code == 400
    response = page.post("/settings/password/", {"current_password": "correct-horse-battery-staple", "new_password": "another-good-secret-1"})
    assert response.status_code == 302
    assert page.get("/settings/").status_code == 200  # this session survives the change
    alice.refresh_from_db()
    from accounts.selectors import blocked_user_ids

    assert alice.display_name == "Alice A." and not blocked_user_ids(alice)
    assert page.get("/settings/2fa/").status_code == 200
