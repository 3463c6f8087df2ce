"""Buying tokens as a person does: from the nav's balance, typing the card the way it is printed."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _tokens(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def _open_buy_page_from_the_nav(page):
    page.goto("/explore/")
    chip = page.locator(".balance-chip")
    before = _tokens(chip.locator("[data-wallet-balance]").inner_text())
    chip.click()
    expect(page).to_have_url(re.compile(r"/wallet/buy/$"))
    # The URL changes when the navigation commits, before the page is read:
    # wait for buy.js to have enabled the packages, so what a test counts next
    # is the buy page's, not the half-gone Explore page's.
    expect(page.get_by_role("button", name="Buy 100 tokens")).to_be_enabled()
    return before


def _fill_card(page, number: str, expiry: str = "12 / 2034", cvc: str = "123"):
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date (MM / YY)").fill(expiry)
    page.get_by_label("Security code (CVC)").fill(cvc)


def test_buy_tokens_with_the_test_card_and_see_the_balance_change_live(new_context):
    page = new_context("alice").new_page()
    before = _open_buy_page_from_the_nav(page)
    page.evaluate("window.__notReloaded = true")

    page.get_by_role("button", name="Buy 100 tokens").click()
    expect(page.locator("#pay-title")).to_contain_text("100 tokens")
    # As printed on the page and on cards: groups of four, a four-digit year.
    _fill_card(page, "4242 4242 4242 4242", expiry="12 / 2034")
    page.get_by_role("button", name="Pay", exact=True).click()

    expect(page.locator("#pay-status")).to_have_text("100 tokens added. Thank you!", timeout=30_000)
    expected = f"{before + 100:,}"
    expect(page.locator(".balance-chip [data-wallet-balance]")).to_have_text(expected)
    expect(page.locator("#wallet-balance")).to_have_text(expected)
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#purchase-history")).to_contain_text("Starter · 100 tokens")


def test_a_declined_card_shows_stripes_words_and_credits_nothing(new_context):
    context = new_context("alice")
    page = context.new_page()
    before = _open_buy_page_from_the_nav(page)
    history_before = page.locator("#purchase-history .activity-row").count()

    page.get_by_role("button", name="Buy 100 tokens").click()
    # Mistakes are caught before anything is sent, in Stripe's words.
    _fill_card(page, "4242 4242 4242 4242", expiry="01 / 20")
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator("#pay-status")).to_have_text("Your card's expiration year is in the past.")

    _fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator("#pay-status")).to_have_text("Your card was declined.")

    _fill_card(page, "4000 0000 0000 9995")
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator("#pay-status")).to_have_text("Your card has insufficient funds.")

    # Nothing was credited, now or once Stripe's events have been handled.
    page.wait_for_timeout(2000)
    assert context.request.get("/api/wallet/").json()["balance"] == before
    page.reload()
    expect(page.locator(".balance-chip [data-wallet-balance]")).to_have_text(f"{before:,}")
    assert page.locator("#purchase-history .activity-row").count() == history_before


def test_a_3d_secure_card_is_confirmed_in_a_dialog_then_credited(new_context):
    page = new_context("alice").new_page()
    before = _open_buy_page_from_the_nav(page)

    page.get_by_role("button", name="Buy 100 tokens").click()
    _fill_card(page, "4000002500003155", expiry="0434")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("button", name="Complete authentication").click()

    expect(page.locator("#pay-status")).to_have_text("100 tokens added. Thank you!", timeout=30_000)
    expect(page.locator(".balance-chip [data-wallet-balance]")).to_have_text(f"{before + 100:,}")
