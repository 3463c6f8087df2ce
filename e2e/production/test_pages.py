"""Every page renders as deployed (DEBUG=false, manifest static files) for an anonymous visitor,
a fan and a creator, a live call's page included; every internal link and asset they reference works."""

import asyncio
import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest

from e2e.clients import Socket, in_own_loop

LINK = re.compile(r"""(?:href|src)="([^"#]+)""")
# Pages each kind of visitor starts from; the crawl follows every internal link from there.
SEEDS = {
    "anonymous": ["/", "/explore/", "/explore/tag/gaming/", "/@luna", "/accounts/login/", "/accounts/signup/",
                  "/accounts/password-reset/", "/api/", "/api/docs/"],
    "alice": ["/", "/explore/", "/@luna", "/wallet/", "/wallet/buy/", "/settings/", "/calls/new/?creator=luna&kind=video"],
    "luna": ["/", "/explore/", "/@luna", "/wallet/", "/settings/", "/settings/creator/"],
}
# Not followed: leaving the site's pages (the admin has its own sign-in), or
# links that only make sense as a form's target.
SKIP = ("/admin/", "/media/", "/api/schema/", "/accounts/logout/")
MAX_PAGES = 120


def _links(base: str, html: str) -> set[str]:
    found = set()
    for raw in LINK.findall(html):
        if raw.startswith(("mailto:", "tel:", "javascript:", "data:", "blob:")):
            continue
        absolute = urlsplit(urljoin(base, raw.replace("&amp;", "&")))
        if absolute.netloc and absolute.netloc != urlsplit(base).netloc:
            continue  # another site (Stripe.js: localstripe's, here)
        path = absolute.path + (f"?{absolute.query}" if absolute.query else "")
        if path.startswith("/"):
            found.add(path)
    return found


def crawl(client, seeds: list[str]) -> tuple[dict, list]:
    seen: dict[str, int] = {}
    broken = []
    queue = deque(seeds)
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen or path.startswith(SKIP):
            continue
        response = client.get(path)
        seen[path] = response.status_code
        if response.status_code in (301, 302):
            location = response.headers["location"]
            queue.append(urlsplit(location).path or "/")
            continue
        if response.status_code >= 400:
            broken.append((path, response.status_code))
            continue
        if path.startswith("/static/"):
            continue
        if "text/html" in response.headers.get("content-type", ""):
            queue.extend(sorted(_links(client.base_url + path, response.text) - set(seen)))
    return seen, broken


@pytest.mark.parametrize("who", ["anonymous", "alice", "luna"])
def test_every_page_and_asset_reachable_by_links_answers(deployment, visitor, signed_in, who):
    client = visitor if who == "anonymous" else signed_in(who)
    seen, broken = crawl(client, SEEDS[who])
    assert not broken, broken
    assert any(path.startswith("/static/") for path in seen), "no static asset was referenced"
    assert len(seen) >= len(SEEDS[who])
    assert not deployment.server_errors()


@in_own_loop
async def test_a_live_calls_page_renders_for_both_parties(deployment, signed_in):
    luna = signed_in("luna")
    alice = signed_in("alice")
    socket = await Socket.open(deployment.url(), client=luna)  # luna is online
    try:
        ring = await asyncio.to_thread(alice.post, "/api/calls/", json={"creator": "luna", "kind": "video"})
        assert ring.status_code == 201, ring.text
        call_id = ring.json()["id"]
        for party in (alice, luna):
            page = await asyncio.to_thread(party.get, f"/calls/{call_id}/")
            assert page.status_code == 200, page.text[:500]
            for asset in sorted(p for p in _links(party.base_url, page.text) if p.startswith("/static/")):
                assert (await asyncio.to_thread(party.get, asset)).status_code == 200, asset
        accept = await asyncio.to_thread(luna.post, f"/api/calls/{call_id}/accept/")
        assert accept.status_code == 200, accept.text
        for party in (alice, luna):
            assert (await asyncio.to_thread(party.get, f"/calls/{call_id}/")).status_code == 200
        end = await asyncio.to_thread(alice.post, f"/api/calls/{call_id}/end/")
        assert end.status_code == 200, end.text
        for party in (alice, luna):  # the receipt
            assert (await asyncio.to_thread(party.get, f"/calls/{call_id}/")).status_code == 200
    finally:
        await socket.close()
    assert not deployment.server_errors()


def test_every_module_imports_the_realtime_file_the_page_loads(deployment, signed_in):
    # Two URLs for realtime.js (hashed in the page, plain in an import) meant
    # two module instances and two sockets per tab.
    alice = signed_in("alice")
    page = alice.get("/wallet/buy/").text
    loaded = re.findall(r'src="(/static/js/realtime\.[0-9a-f]+\.js)"', page)
    assert len(loaded) == 1, loaded
    modules = re.findall(r'src="(/static/[^"]+\.js)"', page)
    for module in modules:
        body = alice.get(module).text
        for imported in re.findall(r'from\s*"(/static/js/realtime[^"]*)"', body):
            assert imported == loaded[0], (module, imported)
