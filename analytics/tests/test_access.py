"""The console does not exist for anyone without its permission: 404 on every
page and endpoint under /staff/ and /api/staff/ (not 403, not a login redirect)."""

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.tests.factories import make_creator, make_user
from analytics.tests.conftest import at

pytestmark = pytest.mark.django_db

SAMPLES = {"uuid": lambda: str(uuid.uuid4()), "slug": lambda: "revenue", "str": lambda: "x", "int": lambda: "1"}


def console_urls() -> list[str]:
    """Every URL pattern of the project under staff/ or api/staff/, with sample values."""
    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and (route.startswith("staff/") or route.startswith("api/staff/")):
                found.append("/" + re.sub(r"<(\w+):\w+>", lambda m: SAMPLES[m.group(1)](), route))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def test_the_walk_finds_every_console_page_and_endpoint():
    urls = console_urls()
    assert "/staff/" in urls and "/api/staff/analytics/" in urls and "/api/staff/reports/" in urls
    assert any(url.startswith("/staff/moderation/reports/") and url.endswith("/act/") for url in urls)
    assert len(urls) >= 11


@pytest.mark.parametrize("who", ["anonymous", "fan", "creator", "bad_token"])
def test_non_staff_get_404_everywhere(who):
    clients = []
    if who == "anonymous":
        clients = [Client(), APIClient()]
    elif who == "bad_token":
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        clients = [api]
    else:
        user = make_user("mallory") if who == "fan" else make_creator("bob")
        page, api = Client(), APIClient()
        page.force_login(user)
        api.force_authenticate(user)
        clients = [page, api]
    for url in console_urls():
        for client in clients:
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code == 404, (who, method, url, response.status_code)


def test_moderators_see_the_queue_but_not_the_dashboard(moderator):
    page = Client()
    page.force_login(moderator)
    assert page.get("/staff/").status_code == 302  # to the queue
    assert page.get("/staff/moderation/").status_code == 200
    for url in console_urls():
        if "analytics" in url:
            assert page.get(url).status_code == 404, url
    api = APIClient()
    api.force_authenticate(moderator)
    assert api.get("/api/staff/analytics/").status_code == 404
    assert api.get("/api/staff/reports/").status_code == 200


def test_the_staff_group_sees_the_dashboard_but_not_the_queue(staffer, clock):
    clock.set(at(2026, 5, 1, 12))
    page = Client()
    page.force_login(staffer)
    response = page.get("/staff/")
    assert response.status_code == 200 and b"Right now" in response.content
    assert page.get("/staff/moderation/").status_code == 404
    assert b"Reports queue" not in response.content


def test_a_superuser_sees_both(clock):
    clock.set(at(2026, 5, 1, 12))
    boss = make_user("boss", is_superuser=True, is_staff=True)
    page = Client()
    page.force_login(boss)
    assert page.get("/staff/").status_code == 200
    assert page.get("/staff/moderation/").status_code == 200


def test_the_nav_links_the_console_only_for_those_who_may_use_it(staffer, people):
    alice = people[0]
    page = Client()
    page.force_login(alice)
    assert b'href="/staff/"' not in page.get("/explore/").content
    page.force_login(staffer)
    assert b'href="/staff/"' in page.get("/explore/").content
