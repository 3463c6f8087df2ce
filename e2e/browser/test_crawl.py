"""Every internal link on the main pages leads somewhere, for a visitor, a fan and a creator.

Links are read from the rendered pages (nav menu included), so a link a later
feature adds is crawled without touching this test."""

from urllib.parse import urldefrag, urlsplit

import pytest

from .test_pages import MAIN_PAGES

pytestmark = pytest.mark.browser

# GET answers these with a page, but following them belongs to their own tests.
SKIP_PREFIXES = ("/accounts/verify/", "/accounts/password-reset/")


def _internal_links(page, origin: str) -> set[str]:
    # Links within the page itself (#main) are not pages to follow.
    hrefs = page.eval_on_selector_all("a[href]:not([href^='#'])", "links => links.map(a => a.href)")
    found = set()
    for href in hrefs:
        url, _ = urldefrag(href)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or f"{parts.scheme}://{parts.netloc}" != origin:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path.startswith(SKIP_PREFIXES) and path not in ("/accounts/password-reset/",):
            continue
        found.add(path)
    return found


@pytest.mark.parametrize("user", list(MAIN_PAGES), ids=lambda user: user or "anonymous")
def test_no_internal_link_on_the_main_pages_is_a_404_or_500(new_context, site_server, user):
    context = new_context(user)
    page = context.new_page()
    links: dict[str, str] = {}
    for path in MAIN_PAGES[user]:
        page.goto(path)
        for link in _internal_links(page, site_server.url):
            links.setdefault(link, path)
    assert len(links) > 10, links  # the crawl found the site, not an error page

    broken = []
    for link, found_on in sorted(links.items()):
        response = context.request.get(link, max_redirects=5)
        if response.status == 404 or response.status >= 500:
            broken.append(f"{link} ({response.status}), linked from {found_on}")
    assert broken == []
