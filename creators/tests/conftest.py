import pytest

from creators.tests.factories import make_creator_profile


@pytest.fixture
def bob_profile(bob):
    return make_creator_profile(bob, display_name="Bob Builder", bio="Builds things on video.", categories=["music"])
