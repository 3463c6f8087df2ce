"""A notification as a person meets it: it arrives in an open tab while something happens
in another, the bell counts it, and it is marked read where it appeared."""

import pytest
from playwright.sync_api import expect

from .test_buy import _fill_card

pytestmark = pytest.mark.browser


def test_a_purchase_notification_arrives_live_and_is_marked_read_in_place(new_context):
    context = new_context("alice")
    # Know when a tab's socket has said hello: events sent before that are not for it.
    context.add_init_script("document.addEventListener('digis:hello', () => { window.__digisHello = true; });")
    inbox = context.new_page()
    inbox.goto("/notifications/")
    inbox.wait_for_function("() => window.__digisHello === true")
    bell = inbox.locator("#notification-bell")
    unread_before = int(bell.get_attribute("data-unread"))

    shop = context.new_page()
    shop.goto("/wallet/buy/")
    shop.get_by_role("button", name="Buy 100 tokens").click()
    _fill_card(shop, "4242 4242 4242 4242")
    shop.get_by_role("button", name="Pay", exact=True).click()
    expect(shop.locator("#pay-status")).to_have_text("100 tokens added. Thank you!", timeout=30_000)

    # The open notifications page shows it at the top, unread, without a reload.
    arrived = inbox.locator("#notification-list > li").first
    expect(arrived).to_contain_text("100 tokens were added to your wallet.")
    expect(arrived).to_contain_text("Just now")
    expect(arrived).to_have_class("notification notification-unread")
    expect(bell).to_have_attribute("data-unread", str(unread_before + 1))
    notification_id = arrived.get_attribute("data-id")

    arrived.get_by_role("button", name="Mark read").click()
    read = inbox.locator(f'#notification-list > li[data-id="{notification_id}"]')
    expect(read).to_be_visible()
    expect(read).not_to_have_class("notification notification-unread")
    expect(read.get_by_role("button", name="Mark read")).to_have_count(0)
    expect(inbox.locator("#notification-bell")).to_have_attribute("data-unread", str(unread_before))


def test_the_bell_counts_a_ringing_call_live(new_context):
    creator_context = new_context("kai")
    creator_context.add_init_script("document.addEventListener('digis:hello', () => { window.__digisHello = true; });")
    creator = creator_context.new_page()
    creator.goto("/settings/")  # any page: the bell is in the nav
    creator.wait_for_function("() => window.__digisHello === true")
    bell = creator.locator("#notification-bell")
    unread_before = int(bell.get_attribute("data-unread"))

    fan = new_context("alice").new_page()
    for _ in range(30):  # presence is swept every few seconds
        fan.goto("/@kai")
        if fan.get_by_role("link", name="Voice call").count():
            break
        fan.wait_for_timeout(1000)
    fan.get_by_role("link", name="Voice call").click()
    fan.get_by_role("button", name="Start voice call").click()

    expect(bell).to_have_attribute("data-unread", str(unread_before + 1))
    expect(bell.locator("[data-bell-count]")).to_be_visible()
    expect(creator.locator(".call-ringer-item")).to_contain_text("Alice")
    fan.get_by_role("button", name="Cancel").click()
    expect(creator.locator(".call-ringer-item")).to_have_count(0)


def test_the_app_installs_and_shows_its_offline_page_when_the_site_is_unreachable(new_context, site_server):
    context = new_context()
    page = context.new_page()
    page.goto("/")
    manifest_url = page.locator('link[rel="manifest"]').get_attribute("href")
    manifest = context.request.get(manifest_url).json()
    assert manifest["display"] == "standalone" and manifest["start_url"].startswith("/")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert context.request.get(icon["src"]).ok, icon["src"]

    # The service worker installs (caching the offline page) and activates.
    state = page.evaluate("navigator.serviceWorker.ready.then((r) => new Promise((done) => {"
                          " const w = r.active; if (w.state === 'activated') return done(w.state);"
                          " w.addEventListener('statechange', () => w.state === 'activated' && done(w.state)); }))")
    assert state == "activated"
    assert page.evaluate("navigator.serviceWorker.getRegistration('/').then((r) => r.scope)") == f"{site_server.url}/"

    # The network goes away: a page that cannot load is the offline page, from the device.
    context.set_offline(True)
    try:
        page.goto("/explore/")
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        expect(page.get_by_role("link", name="Try again")).to_be_visible()
    finally:
        context.set_offline(False)
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("heading", name="You are offline")).to_have_count(0)
