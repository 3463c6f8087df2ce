"""Test factories for creators. Profiles are made through the service, like production."""

from accounts.tests.factories import make_creator
from creators import services
from creators.models import CreatorProfile


def make_creator_profile(user=None, *, categories=None, **fields) -> CreatorProfile:
    """A creator (made if not given) with a profile; ``fields`` and ``categories`` (slugs) applied."""
    user = user or make_creator()
    profile = services.ensure_creator_profile(user=user)
    if fields or categories is not None:
        profile = services.update_creator_profile(user=user, categories=categories, **fields)
    return profile
