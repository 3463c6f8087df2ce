"""Own settings only, avatars checked and cleaned, blocks both ways, becoming a creator."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts import selectors, services
from accounts.models import Block, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _image(fmt="PNG", size=(800, 600), exif=False):
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    kwargs = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam Inc."  # Make
        data[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPS
        kwargs["exif"] = data.tobytes()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def test_me_is_only_ever_the_caller(api_as, alice, mallory):
    response = api_as(mallory).get("/api/me/")
    assert response.json()["username"] == "mallory"
    response = api_as(mallory).patch("/api/me/", {"display_name": "Mallory M."}, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.display_name == ""
    # there is no way to address someone else's settings
    public = api_as(mallory).get(f"/api/users/{alice.pk}/")
    assert public.status_code == 200 and "email" not in public.json()
    for method in ("patch", "put", "delete", "post"):
        assert getattr(api_as(mallory), method)(f"/api/users/{alice.pk}/", {"display_name": "pwned"}, format="json").status_code == 405
    alice.refresh_from_db()
    assert alice.display_name == ""


def test_settings_need_a_signed_in_user(client, api):
    assert api.get("/api/me/").status_code in (401, 403)
    assert api.patch("/api/me/", {"display_name": "x"}, format="json").status_code in (401, 403)
    response = client.get("/settings/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_avatar_is_reencoded_and_exif_is_gone(api_as, alice):
    upload = SimpleUploadedFile("me.jpg", _image("JPEG", exif=True), content_type="image/jpeg")
    response = api_as(alice).put("/api/me/avatar/", {"avatar": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    alice.refresh_from_db()
    with alice.avatar.open("rb") as stored:
        image = Image.open(stored)
        assert image.format == "JPEG" and image.size == (512, 512)
        assert not image.getexif()
        assert "exif" not in image.info


@pytest.mark.parametrize(
    "name,content,code",
    [
        ("x.png", b"<?php echo 'hi'; ?>", "avatar_wrong_type"),
        ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "avatar_wrong_type"),
        ("x.bmp", None, "avatar_wrong_type"),
    ],
)
def test_wrong_type_is_refused(api_as, alice, name, content, code):
    if content is None:
        content = _image("BMP", size=(10, 10))
    response = api_as(alice).put("/api/me/avatar/", {"avatar": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    alice.refresh_from_db()
    assert not alice.avatar


def test_oversize_is_refused(api_as, alice, settings):
    settings.ACCOUNTS_AVATAR_MAX_BYTES = 1000
    response = api_as(alice).put("/api/me/avatar/", {"avatar": SimpleUploadedFile("big.png", _image("PNG", size=(400, 400)) + b"\0" * 1000)}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "avatar_too_large"
    settings.ACCOUNTS_AVATAR_MAX_BYTES = 5 * 1024 * 1024
    settings.ACCOUNTS_AVATAR_MAX_PIXELS = 100
    response = api_as(alice).put("/api/me/avatar/", {"avatar": SimpleUploadedFile("wide.png", _image("PNG", size=(50, 50)))}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "avatar_too_large"


def test_blocking_works_both_ways_and_is_idempotent(api_as, alice, bob, mallory):
    assert api_as(alice).post(f"/api/users/{bob.pk}/block/").status_code == 201
    assert api_as(alice).post(f"/api/users/{bob.pk}/block/").status_code == 201
    assert Block.objects.count() == 1
    assert selectors.blocked_user_ids(alice) == {bob.pk}
    assert selectors.blocked_user_ids(bob) == {alice.pk}
    assert selectors.is_blocked_between(bob, alice) and selectors.is_blocked_between(alice, bob)
    assert not selectors.is_blocked_between(alice, mallory)
    assert [row["user"]["id"] for row in api_as(alice).get("/api/me/blocks/").json()] == [str(bob.pk)]
    # mallory cannot undo alice's block
    assert api_as(mallory).delete(f"/api/users/{bob.pk}/block/").status_code == 204
    assert Block.objects.count() == 1
    assert api_as(alice).delete(f"/api/users/{bob.pk}/block/").status_code == 204
    assert selectors.blocked_user_ids(alice) == set()


def test_block_bad_input(api_as, alice):
    response = api_as(alice).post(f"/api/users/{alice.pk}/block/")
    assert response.status_code == 400 and response.json()["error"]["code"] == "cannot_block_self"
    assert api_as(alice).post("/api/users/00000000-0000-0000-0000-000000000000/block/").status_code == 404
    assert api_as(alice).post("/api/users/not-a-uuid/block/").status_code == 404


def test_become_creator_creates_the_profile(api_as, alice):
    from creators.models import CreatorProfile

    response = api_as(alice).post("/api/me/become-creator/")
    assert response.status_code == 200 and response.json()["role"] == "creator"
    assert api_as(alice).post("/api/me/become-creator/").status_code == 200  # idempotent
    assert CreatorProfile.objects.filter(user=alice).count() == 1
    alice.refresh_from_db()
    assert alice.role == Role.CREATOR


def test_change_email_needs_the_password_and_reverifies(api_as, alice, mallory):
    alice_api = api_as(alice)
    assert alice_api.post("/api/me/email/", {"email": "new@example.test", "password": "wrong"}, format="json").status_code == 400
    response = alice_api.post("/api/me/email/", {"email": "MALLORY@example.test", "password": "correct-horse-battery-staple"}, format="json")
    assert response.status_code == 400 and "email" in response.json()["error"]["fields"]
    response = alice_api.post("/api/me/email/", {"email": "new@example.test", "password": "correct-horse-battery-staple"}, format="json")
    assert response.status_code == 200 and response.json()["email_verified"] is False
