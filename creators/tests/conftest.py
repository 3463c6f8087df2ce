import pytest

from creators.tests.factories import make_creator_profile


@pytest.fixture
def bob_profile(bob):
    return make_creator_profile(bob, display_name="Bob Builder", bio="Builds things on video.", categories=["music"])


@pytest.fixture(autouse=True)
def _no_shared_explore_pages(settings):
    # Tests change data between requests and expect to see it at once; the
    # few-second page and anonymous caches have their own tests (test_explore_page_cache_*,
    # test_anonymous_explore_*; each process's own copy of the anonymous answer:
    # test_a_process_answers_from_its_own_copy_*).
    settings.CREATORS_PAGE_CACHE_S = 0
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    settings.CREATORS_ANONYMOUS_LOCAL_S = 0


@pytest.fixture(autouse=True)
def _categories_after_flush(request):
    # transaction=True tests flush every table afterwards, the categories the
    # data migration seeded included; put them back for the tests that follow.
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        import importlib

        from django.apps import apps

        request.getfixturevalue("transactional_db")
        importlib.import_module("creators.migrations.0002_search_and_categories").seed_categories(apps, None)


@pytest.fixture(autouse=True)
def _fresh_process_memos():
    # The root conftest clears the shared cache between tests; these
    # per-process memos sit on top of it.
    from creators import selectors

    selectors._categories_memo.clear()
    selectors._online_memo.clear()
    yield
