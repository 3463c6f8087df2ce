"""Every write to creator profiles, categories and follows goes through here.

These services open plain ``transaction.atomic()`` rather than a durable one:
they move no money, their only side effect (dropping cached cards) runs on
commit, and other flows compose them inside their own transaction
(accounts' become_creator, seed_demo's per-app transaction).
"""

import uuid
from collections.abc import Sequence

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F

from creators.exceptions import CannotFollowSelf, CreatorNotFound, NotACreator, TooManyCategories, UnknownCategory
from creators.models import MAX_CATEGORIES, Category, CreatorCategory, CreatorProfile, Follow, MessagePolicy
from digis.errors import InvalidInput

CARD_CACHE_KEY = "creators:card:v2:{}"  # v2: cards carry message_min_spend
# Changes whenever any card changes; anonymous Explore responses cached with
# an older value are rebuilt (selectors.anonymous_explore_cached).
EXPLORE_GENERATION_KEY = "creators:explore_generation:v1"

# Fields a creator may change on their own profile, and their limits.
TOKEN_FIELDS = {"video_call_rate", "voice_call_rate", "message_price"}
# Token amounts that may be 0 (a free message; no spend required).
ZERO_ALLOWED = {"message_price", "message_min_spend"}
MAX_TOKENS = 1_000_000
MAX_CALL_MINUTES = 240
TEXT_LIMITS = {"display_name": 80, "bio": 1000}
EDITABLE_FIELDS = TOKEN_FIELDS | set(TEXT_LIMITS) | {
    "min_call_minutes",
    "do_not_disturb",
    "message_policy",
    "message_min_spend",
    "avatar",
    "cover",
}


class LocalResponses(dict):
    """This process's copies of shared anonymous Explore responses, held
    CREATORS_ANONYMOUS_LOCAL_S (selectors.anonymous_explore_cached): key ->
    (monotonic expiry, value). A change here drops them at once and moves the
    epoch, so a response built before the change is not kept; other web
    processes serve theirs until they expire."""

    epoch = 0

    def drop_all(self) -> None:
        self.epoch += 1
        self.clear()


LOCAL_ANONYMOUS_RESPONSES = LocalResponses()


def invalidate_creator_cache(*, user_id) -> None:
    """Forget the cached card/profile of this creator, and every anonymous Explore
    response that may show it, now and again after commit.

    Deleting twice closes the window in which a concurrent reader caches the
    old row between our delete and our COMMIT.
    """
    key = CARD_CACHE_KEY.format(user_id)

    def forget():
        cache.delete(key)
        cache.set(EXPLORE_GENERATION_KEY, uuid.uuid4().hex, None)
        LOCAL_ANONYMOUS_RESPONSES.drop_all()

    forget()
    transaction.on_commit(forget)


def ensure_creator_profile(*, user) -> CreatorProfile:
    """Give ``user`` a creator profile and the creator role. Idempotent.

    Safe inside the caller's transaction (accounts.services.become_creator)
    and under concurrent calls: the profile's primary key is the user.
    """
    from accounts.models import Role, User

    with transaction.atomic():
        profile, _ = CreatorProfile.objects.get_or_create(user=user)
        if user.role != Role.CREATOR:
            User.objects.filter(pk=user.pk).update(role=Role.CREATOR)
            user.role = Role.CREATOR
        invalidate_creator_cache(user_id=user.pk)
    return profile


def _profile_for_update(user) -> CreatorProfile:
    try:
        return CreatorProfile.objects.select_for_update(of=("self",), no_key=True).get(user=user)
    except CreatorProfile.DoesNotExist:
        raise NotACreator()


def _clean_changes(changes: dict) -> dict:
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(
            "Unknown fields.", fields={name: ["Not a profile field."] for name in sorted(unknown)}, code="unknown_field"
        )
    errors = {}
    clean = {}
    for name, value in changes.items():
        if name in TOKEN_FIELDS or name in ZERO_ALLOWED or name == "min_call_minutes":
            upper = MAX_CALL_MINUTES if name == "min_call_minutes" else MAX_TOKENS
            lower = 0 if name in ZERO_ALLOWED else 1
            if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
                errors[name] = [f"Must be a whole number from {lower} to {upper}."]
                continue
        elif name in TEXT_LIMITS:
            if not isinstance(value, str) or len(value.strip()) > TEXT_LIMITS[name]:
                errors[name] = [f"Must be text of at most {TEXT_LIMITS[name]} characters."]
                continue
            value = value.strip()
        elif name == "do_not_disturb":
            if not isinstance(value, bool):
                errors[name] = ["Must be true or false."]
                continue
        elif name == "message_policy":
            if value not in MessagePolicy.values:
                errors[name] = [f"Must be one of: {', '.join(MessagePolicy.values)}."]
                continue
        clean[name] = value
    if errors:
        raise InvalidInput("Some profile fields are not valid.", fields=errors)
    return clean


def _categories_for(slugs: Sequence[str]) -> list[Category]:
    if isinstance(slugs, str) or not all(isinstance(slug, str) for slug in slugs):
        raise InvalidInput("Categories are a list of slugs.", fields={"categories": ["Must be a list of slugs."]})
    ordered = list(dict.fromkeys(slugs))  # keep the creator's order, drop repeats
    if len(ordered) > MAX_CATEGORIES:
        raise TooManyCategories(
            f"Pick at most {MAX_CATEGORIES} categories (you picked {len(ordered)}).",
            fields={"categories": [f"At most {MAX_CATEGORIES} categories."]},
        )
    found = {category.slug: category for category in Category.objects.filter(slug__in=ordered)}
    missing = [slug for slug in ordered if slug not in found]
    if missing:
        raise UnknownCategory(
            f"Unknown categories: {', '.join(missing)}.", fields={"categories": [f"Unknown: {', '.join(missing)}."]}
        )
    return [found[slug] for slug in ordered]


def update_creator_profile(*, user, categories: Sequence[str] | None = None, **changes) -> CreatorProfile:
    """Change a creator's own profile; only ``user`` may, and only if they are a creator.

    Atomic: either every field and the category list change, or nothing does.
    ``categories`` (slugs, in order) replaces the whole list; at most five.
    """
    clean = _clean_changes(changes)
    picked = _categories_for(categories) if categories is not None else None
    with transaction.atomic():
        profile = _profile_for_update(user)
        for name, value in clean.items():
            setattr(profile, name, value)
        if clean:
            profile.save(update_fields=[*clean, "updated_at"])
        if picked is not None:
            _replace_categories(profile, picked)
        invalidate_creator_cache(user_id=user.pk)
    return profile


def _replace_categories(profile: CreatorProfile, picked: list[Category]) -> None:
    # The profile row is locked by the caller, so two edits cannot interleave;
    # the (profile, position 1..5) constraint is the backstop if one ever did.
    CreatorCategory.objects.filter(profile=profile).delete()
    CreatorCategory.objects.bulk_create(
        CreatorCategory(profile=profile, category=category, position=position)
        for position, category in enumerate(picked, start=1)
    )


def set_do_not_disturb(*, user, enabled: bool) -> CreatorProfile:
    """Switch a creator's "don't disturb" (shown as availability "dnd")."""
    return update_creator_profile(user=user, do_not_disturb=bool(enabled))


def _followable_profile(creator_user_id) -> CreatorProfile:
    try:
        return CreatorProfile.objects.select_related("user").get(user_id=creator_user_id, user__is_active=True)
    except CreatorProfile.DoesNotExist:
        raise CreatorNotFound()


def follow_creator(*, follower, creator_user_id) -> bool:
    """``follower`` follows the creator. Idempotent: following twice is one follow.

    Returns True if this call created the follow. The follower count moves in
    the same transaction as the Follow row, so it never drifts.
    """
    from accounts.selectors import is_blocked_between

    if str(follower.pk) == str(creator_user_id):
        raise CannotFollowSelf()
    profile = _followable_profile(creator_user_id)
    if is_blocked_between(follower, profile.user):
        raise CreatorNotFound()  # a block hides the creator; don't reveal why
    with transaction.atomic():
        try:
            with transaction.atomic():
                Follow.objects.create(follower=follower, creator=profile)
        except IntegrityError:
            return False  # already following (maybe a concurrent double click)
        CreatorProfile.objects.filter(pk=profile.pk).update(follower_count=F("follower_count") + 1)
        invalidate_creator_cache(user_id=profile.pk)
    return True


def unfollow_creator(*, follower, creator_user_id) -> bool:
    """Stop following. Idempotent: returns False if there was no follow."""
    with transaction.atomic():
        deleted, _ = Follow.objects.filter(follower=follower, creator_id=creator_user_id).delete()
        if not deleted:
            return False
        CreatorProfile.objects.filter(pk=creator_user_id).update(follower_count=F("follower_count") - 1)
        invalidate_creator_cache(user_id=creator_user_id)
    return True


# --- moderation -------------------------------------------------------------------


def set_profile_hidden(*, user_id, hidden: bool) -> bool:
    """Hide the creator's profile from everything public (Explore, search, the
    profile page) or show it again. Called by moderation's hide hooks inside
    their transaction. Idempotent; returns False when the user has no profile.
    """
    from django.utils import timezone

    profiles = CreatorProfile.objects.filter(user_id=user_id)
    if not profiles.exists():
        return False
    if hidden:
        profiles.filter(hidden_at__isnull=True).update(hidden_at=timezone.now())
    else:
        profiles.filter(hidden_at__isnull=False).update(hidden_at=None)
    invalidate_creator_cache(user_id=user_id)
    # The "all creators" list the online sweep walks is cached separately.
    from creators.selectors import CREATOR_IDS_CACHE_KEY

    cache.delete(CREATOR_IDS_CACHE_KEY)
    return True
