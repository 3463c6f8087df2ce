"""Pages as people meet them: Explore from a shared link, the theme they chose, a phone's width."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import PHONE
from .support import horizontal_overflow

pytestmark = pytest.mark.browser

MAIN_PAGES = {
    None: ["/", "/explore/", "/@luna", "/accounts/login/", "/accounts/signup/", "/accounts/password-reset/", "/no/such/page/"],
    "alice": ["/", "/explore/", "/@luna", "/wallet/", "/wallet/buy/", "/settings/", "/calls/new/?creator=luna&kind=video"],
    "luna": ["/", "/wallet/", "/earnings/", "/settings/", "/settings/creator/", "/@luna"],
}


def test_explore_filters_come_from_the_url(new_context):
    page = new_context().new_page()
    page.goto("/explore/?q=luna")
    cards = page.locator("main .card-grid .card")
    expect(cards.first).to_contain_text("Luna")
    expect(page.locator("main input[name=q]")).to_have_value("luna")
    assert all("Luna" in text for text in cards.all_inner_texts())

    # A category from the profile's tag link narrows Explore to it.
    page.goto("/@luna")
    tag = page.locator("a.tag").first
    slug = tag.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
    tag.click()
    expect(page).to_have_url(re.compile(rf"/explore/tag/{re.escape(slug)}/$"))
    # Luna may also be under "Online now" (another test's tab): every card shown has the tag.
    cards = page.locator("main .card-grid .card")
    expect(cards.filter(has_text="Luna").first).to_be_visible()
    assert all(f"#{slug}" in text for text in cards.all_inner_texts())

    # An unknown category is the friendly 404, not Django's debug page.
    response = page.goto("/explore/tag/no-such-category/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Explore creators")).to_be_visible()


def test_the_chosen_theme_stays_across_pages_and_visits(new_context):
    context = new_context(color_scheme="light")
    page = context.new_page()
    page.goto("/")
    assert page.evaluate("document.documentElement.dataset.theme") in ("auto", "light")
    page.locator("#theme-toggle").click()
    chosen = page.evaluate("document.documentElement.dataset.theme")
    assert chosen == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")

    page.goto("/explore/")
    assert page.evaluate("document.documentElement.dataset.theme") == chosen
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background

    later = context.new_page()  # a later visit in the same browser
    later.goto("/")
    assert later.evaluate("document.documentElement.dataset.theme") == chosen


@pytest.mark.parametrize("width", [390, 360])
def test_no_page_scrolls_sideways_on_a_phone(new_context, width):
    viewport = {**PHONE, "width": width}
    problems = []
    for user, paths in MAIN_PAGES.items():
        page = new_context(user, viewport=viewport).new_page()
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            overflow = horizontal_overflow(page)
            if overflow > 0:
                problems.append(f"{user or 'anonymous'} {path}: {overflow}px too wide")
        if user == "alice":
            # The open menu and the open card form must fit too.
            page.goto("/wallet/buy/")
            page.locator("label.nav-burger").click()
            page.locator(".nav-menu summary").click()
            page.get_by_role("button", name="Buy 100 tokens").click()
            expect(page.get_by_label("Card number")).to_be_visible()
            if horizontal_overflow(page) > 0:
                problems.append(f"alice /wallet/buy/ with the menu and card form open: {horizontal_overflow(page)}px too wide")
    assert problems == []


def test_the_join_button_is_readable(new_context):
    page = new_context().new_page()
    page.goto("/")
    join = page.get_by_role("link", name="Join")
    assert join.evaluate("el => getComputedStyle(el).color") == "rgb(255, 255, 255)"
