"""PostgreSQL search: full-text over name and bio, trigram similarity on names, and the indexes."""

import pytest
from django.db import connection

from accounts.tests.factories import make_creator
from creators.tests.factories import make_creator_profile

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def people(db):
    make_creator_profile(make_creator("lunapark"), display_name="Luna Park", bio="Late-night lo-fi producer, synthesizers")
    make_creator_profile(make_creator("kaimoreno"), display_name="Kai Moreno", bio="Speedrunner and streamer")
    make_creator_profile(make_creator("mayachen"), display_name="Maya Chen", bio="Yoga teacher and breathing coach")


def names(api, q):
    response = api.get("/api/creators/", {"q": q})
    assert response.status_code == 200
    return {card["username"] for card in response.json()["results"]}


def test_full_text_matches_words_in_the_bio(people, api):
    assert names(api, "yoga") == {"mayachen"}
    assert names(api, "streamer speedrunner") == {"kaimoreno"}
    assert names(api, '"breathing coach"') == {"mayachen"}


def test_trigram_similarity_forgives_typos_in_names(people, api):
    assert names(api, "Lunna") == {"lunapark"}
    assert names(api, "Morenno") == {"kaimoreno"}


def test_username_fragments_match(people, api):
    assert names(api, "chen") == {"mayachen"}
    assert names(api, "park") == {"lunapark"}


def test_search_syntax_never_breaks_the_query(people, api):
    for q in ["&&", "'", "!(", "a | b", ":*", "\\"]:
        assert api.get("/api/creators/", {"q": q}).status_code == 200


def test_search_indexes_and_trigram_extension_exist(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'creators_creatorprofile'")
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone()
    assert {"creators_fts_idx", "creators_name_trgm_idx", "creators_popular_idx", "creators_new_idx"} <= indexes


def test_full_text_query_can_use_its_index(people):
    from creators.models import CreatorProfile
    from creators.search import apply_search

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = apply_search(CreatorProfile.objects.all(), "yoga").only("pk").explain()
    assert "creators_fts_idx" in plan or "creators_name_trgm_idx" in plan, plan


def test_username_search_can_use_its_trigram_index(people):
    from creators.models import CreatorProfile
    from creators.search import apply_search

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = apply_search(CreatorProfile.objects.all(), "yoga").only("pk").explain()
    assert "creators_username_trgm_idx" in plan, plan


def test_the_full_text_bitmap_is_not_rechecked_with_the_trigram_conditions(people):
    # A trigram match is always rechecked, and a recheck evaluates the whole
    # condition: ORed into one bitmap with the full text, to_tsvector ran for
    # every row the full-text index found (bench/explore_plans.py).
    from creators.models import CreatorProfile
    from creators.search import apply_search

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = apply_search(CreatorProfile.objects.all(), "yoga").only("pk").explain()
    for line in plan.splitlines():
        if "Recheck Cond" in line and "to_tsvector" in line:
            assert "%" not in line, plan
