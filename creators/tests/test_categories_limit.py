"""At most five categories: in the form, at the API, in the service and in the database."""

import pytest
from django.db import IntegrityError, transaction

from creators import services
from creators.exceptions import TooManyCategories, UnknownCategory
from creators.models import Category, CreatorCategory
from creators.tests.factories import make_creator_profile

SIX = ["music", "gaming", "fitness", "yoga", "cooking", "fashion"]

pytestmark = pytest.mark.django_db


def test_categories_are_seeded_by_the_data_migration():
    assert Category.objects.count() >= 15
    assert Category.objects.filter(slug="gaming").exists()


def test_five_categories_are_kept_in_the_creators_order(bob):
    make_creator_profile(bob, categories=SIX[:5][::-1])
    assert list(CreatorCategory.objects.filter(profile_id=bob.pk).values_list("category__slug", flat=True)) == SIX[:5][::-1]


def test_service_refuses_a_sixth_and_changes_nothing(bob):
    make_creator_profile(bob, categories=["music"])
    with pytest.raises(TooManyCategories):
        services.update_creator_profile(user=bob, categories=SIX, bio="changed")
    assert list(CreatorCategory.objects.filter(profile_id=bob.pk).values_list("category__slug", flat=True)) == ["music"]
    assert bob.creator_profile.__class__.objects.get(pk=bob.pk).bio == ""


def test_repeated_slugs_count_once(bob):
    profile = make_creator_profile(bob, categories=["music", "music", *SIX[1:5]])
    assert profile.categories.count() == 5


def test_unknown_category_is_refused(bob):
    make_creator_profile(bob)
    with pytest.raises(UnknownCategory):
        services.update_creator_profile(user=bob, categories=["music", "no-such-thing"])


def test_api_refuses_a_sixth_with_a_code(bob, api_as):
    make_creator_profile(bob, categories=["music"])
    response = api_as(bob).patch("/api/creators/me/", {"categories": SIX}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_categories"
    assert "categories" in response.json()["error"]["fields"]
    assert CreatorCategory.objects.filter(profile_id=bob.pk).count() == 1


def test_form_refuses_a_sixth(bob, client):
    make_creator_profile(bob, categories=["music"])
    client.force_login(bob)
    data = {
        "display_name": "Bob",
        "bio": "",
        "video_call_rate": 50,
        "voice_call_rate": 20,
        "message_price": 5,
        "min_call_minutes": 1,
        "message_policy": "anyone",
        "categories": SIX,
    }
    response = client.post("/settings/creator/", data)
    assert response.status_code == 400
    assert "at most 5 categories" in response.content.decode()
    assert CreatorCategory.objects.filter(profile_id=bob.pk).count() == 1
    # and five are fine
    response = client.post("/settings/creator/", {**data, "categories": SIX[:5]})
    assert response.status_code == 302
    assert CreatorCategory.objects.filter(profile_id=bob.pk).count() == 5


def test_database_refuses_a_sixth_position(bob):
    profile = make_creator_profile(bob, categories=SIX[:5])
    sixth = Category.objects.get(slug=SIX[5])
    with pytest.raises(IntegrityError), transaction.atomic():
        CreatorCategory.objects.create(profile=profile, category=sixth, position=6)


def test_database_refuses_a_sixth_row_in_a_taken_position(bob):
    profile = make_creator_profile(bob, categories=SIX[:5])
    sixth = Category.objects.get(slug=SIX[5])
    for position in range(1, 6):
        with pytest.raises(IntegrityError), transaction.atomic():
            CreatorCategory.objects.create(profile=profile, category=sixth, position=position)
    assert CreatorCategory.objects.filter(profile=profile).count() == 5


def test_database_refuses_moving_a_pick_out_of_range(bob):
    profile = make_creator_profile(bob, categories=SIX[:2])
    with pytest.raises(IntegrityError), transaction.atomic():
        CreatorCategory.objects.filter(profile=profile, position=2).update(position=0)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_never_leave_more_than_five(bob):
    from digis.testing import run_concurrently

    make_creator_profile(bob)
    lists = [SIX[:5], SIX[1:6], SIX[::-1][:5], SIX[:3]]
    results = run_concurrently([lambda picks=picks: services.update_creator_profile(user=bob, categories=picks) for picks in lists])
    assert not [r for r in results if isinstance(r, Exception)]
    slugs = list(CreatorCategory.objects.filter(profile_id=bob.pk).values_list("category__slug", flat=True))
    assert slugs in lists
