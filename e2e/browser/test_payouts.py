"""A creator turns earnings into money: from the menu to /earnings/, a payout
requested with one click, listed, approved and paid by staff in the admin.

The browser tier's server pays earnings out without a hold (PAYOUT_HOLD_DAYS=0,
e2e/browser/server.py): the demo's earnings are minutes old, and the hold
itself is tested with time-machine in payouts/tests.
"""

import re

import pytest
from playwright.sync_api import expect

from .support import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def _tokens(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def test_a_creator_requests_a_payout_and_staff_pay_it(new_context, site_server):
    # given luna, a creator with earnings, on her earnings page from the menu
    page = new_context("luna").new_page()
    page.goto("/")
    page.locator(".nav-menu summary").click()
    page.locator(".nav-menu").get_by_role("link", name="Earnings").click()
    expect(page).to_have_url(re.compile(r"/earnings/$"))
    payable = _tokens(page.locator("[data-payable] strong").inner_text())
    assert payable > 0
    listed = page.locator("section[aria-labelledby=payouts-title] tbody tr")
    page.wait_for_load_state()  # count() does not wait: the whole table first
    before = listed.count()

    # when she asks for everything payable
    page.get_by_role("button", name="Request payout").click()

    # then her payout's page says it waits for review (her first payout), and her earnings list it
    expect(page).to_have_url(re.compile(r"/earnings/payouts/[0-9a-f-]{36}/$"))
    payout_url = page.url
    payout_id = payout_url.rstrip("/").rsplit("/", 1)[-1]
    flash = page.locator(".flash")
    expect(flash).to_contain_text("tokens requested")
    # Everything payable at the click: at least what the page showed (the
    # demo's jobs may have released more earnings since).
    requested = _tokens(re.search(r"Payout of ([\d,]+) tokens", flash.inner_text()).group(1))
    assert requested >= payable
    expect(page.locator("main .badge")).to_have_text("Waiting for review")
    page.goto("/earnings/")
    expect(listed).to_have_count(before + 1)
    newest = listed.first
    expect(newest).to_contain_text(f"{requested:,}")
    expect(newest.locator(".badge")).to_have_text("Waiting for review")
    expect(page.get_by_role("button", name="Request payout")).to_have_count(0)

    # when staff approve it, then record the bank transfer as received
    # (staff sign in with a one-time code; the demo seed prints a few)
    admin = new_context().new_page()
    admin.goto("/accounts/login/?next=/admin/")
    admin.get_by_label("Username or e-mail").fill("admin")
    admin.locator("#id_password").fill(DEMO_PASSWORD)
    admin.get_by_label("Authenticator code").fill(site_server.one_time_code("admin"))
    admin.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    expect(admin).to_have_url(re.compile(r"/admin/$"))
    for action, reference in (("Approve", ""), ("Mark paid", "SEPA browser-test")):
        admin.goto(f"/admin/payouts/payout/{payout_id}/decide/")
        admin.get_by_role("radio", name=re.compile(action)).check()
        admin.get_by_label("Reason or reference").fill(reference)
        admin.get_by_role("button", name="Record (audited)").click()
        expect(admin.locator(".messagelist")).to_contain_text(f"Recorded: {action}")

    # then luna's earnings page, left open, shows it paid by itself: it reloads
    # on payout.updated over the socket (and may reload once more: a page.goto
    # on it now would race that reload, so her payout opens in a new tab)
    expect(listed.first.locator(".badge")).to_have_text("Paid")
    tab = page.context.new_page()
    tab.goto(payout_url)
    expect(tab.locator("main .badge")).to_have_text("Paid")
