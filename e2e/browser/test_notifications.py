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
    inbox.wait_for_function("window.__digisHello === true")
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
