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


def test_a_search_found_among_the_first_rows_pages_exactly_as_the_whole_search(db, api, monkeypatch):
    """first_matches() answers a page from the listing's first rows when they
    hold a full page: every page and cursor, in both sorts, must equal the
    whole search's, including pages where it has to fall back."""
    from creators import search
    from creators.models import CreatorProfile

    for n in range(40):
        bio = "guitar lessons" if n % 3 else "drum lessons"  # 2 in 3 match "guitar"
        make_creator_profile(make_creator(f"player{n:02d}"), display_name=f"Player {n}", bio=bio)
        CreatorProfile.objects.filter(user__username=f"player{n:02d}").update(follower_count=(n * 7) % 13)
    monkeypatch.setattr(search, "FIRST_LOOK_ROWS", 8)  # a page of 4 is found in 8 rows; later pages fall back at times
    calls = {"found": 0, "fell back": 0}
    real = search.first_matches

    def counted(*args, **kwargs):
        rows = real(*args, **kwargs)
        calls["found" if rows is not None else "fell back"] += 1
        return rows

    def pages(url):
        seen = []
        while url:
            body = api.get(url).json()
            seen.append(([card["username"] for card in body["results"]], body["next"]))
            url = body["next"]
        return seen

    for sort in ("popular", "new"):
        url = f"/api/creators/?q=guitar&sort={sort}&limit=4"
        monkeypatch.setattr("creators.selectors.first_matches", counted)
        walked = pages(url)
        monkeypatch.setattr("creators.selectors.first_matches", lambda *args, **kwargs: None)
        whole = pages(url)
        assert walked == whole
        assert sum(len(names) for names, _ in whole) == 26
    assert calls["found"] and calls["fell back"]  # both paths ran
