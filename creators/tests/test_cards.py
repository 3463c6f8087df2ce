"""Cards are read as plain rows; they must say exactly what the profile and user models say."""

import pytest

from accounts.models import User
from accounts.tests.factories import make_creator
from creators import selectors
from creators.models import CreatorProfile
from creators.tests.factories import make_creator_profile

pytestmark = pytest.mark.django_db


def card_from_models(profile: CreatorProfile) -> dict:
    """What a card is, spelled with the models (the reference the row reader must match)."""
    user = profile.user
    avatar = profile.avatar or user.avatar
    return {
        "id": str(user.pk),
        "username": user.username,
        "name": profile.display_name or user.public_name or user.username,
        "bio": profile.bio,
        "avatar_url": avatar.url if avatar else "",
        "cover_url": profile.cover.url if profile.cover else "",
        "initials": selectors._initials(profile.display_name or user.get_full_name() or user.username),
        "video_call_rate": profile.video_call_rate,
        "voice_call_rate": profile.voice_call_rate,
        "message_price": profile.message_price,
        "min_call_minutes": profile.min_call_minutes,
        "message_policy": profile.message_policy,
        "message_min_spend": profile.message_min_spend,
        "do_not_disturb": profile.do_not_disturb,
        "follower_count": profile.follower_count,
        "categories": [{"slug": link.category.slug, "name": link.category.name} for link in profile.category_links.all()],
        "created_at": profile.created_at.isoformat(),
    }


def test_cards_read_as_rows_match_the_models(db):
    # Given creators named every way a card can be named, with and without pictures
    named = make_creator_profile(make_creator("named"), display_name="Nia Named", categories=["music", "gaming", "art"],
                                 bio="Bio <b>here</b>", message_price=0, do_not_disturb=True)
    by_user = make_creator_profile(make_creator("byuser", display_name="From Account"))
    full = make_creator_profile(make_creator("full", first_name="Fay", last_name="Lastly"), categories=["yoga"])
    bare = make_creator_profile(make_creator("bare"))
    CreatorProfile.objects.filter(pk=named.pk).update(avatar="creators/avatars/n.png", cover="creators/covers/n.png")
    User.objects.filter(pk=by_user.pk).update(avatar="avatars/u.png")
    ids = [named.pk, by_user.pk, full.pk, bare.pk]

    cards = selectors.cards_for(ids)

    profiles = CreatorProfile.objects.select_related("user").prefetch_related("category_links__category")
    for profile in profiles.filter(pk__in=ids):
        assert cards[str(profile.pk)] == card_from_models(profile)
    assert [c["slug"] for c in cards[str(named.pk)]["categories"]] == ["music", "gaming", "art"]  # the creator's order
    assert cards[str(by_user.pk)]["name"] == "From Account" and cards[str(by_user.pk)]["avatar_url"]
    assert cards[str(full.pk)]["initials"] == "FL"


def test_a_cold_card_batch_is_two_queries(db, django_assert_num_queries, settings):
    settings.CREATORS_CARD_CACHE_S = 0
    ids = [make_creator_profile(categories=["music"]).pk for _ in range(5)]
    with django_assert_num_queries(2):
        assert len(selectors.cards_for(ids)) == 5
