"""A fan calls a creator: two browsers, a real camera stand-in, video both ways, a hang-up,
and receipts that match each other and the ledger."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TALK_MS = 13_000  # over the 10 s under which a call is refunded in full


def _receipt(page) -> dict:
    page.locator("[data-receipt]").wait_for(state="visible")
    terms = page.locator("[data-receipt-rows] dt").all_inner_texts()
    values = page.locator("[data-receipt-rows] dd").all_inner_texts()
    return dict(zip(terms, values))


def _remote_video_plays(page) -> None:
    page.wait_for_function(
        "() => { const v = document.querySelector('video[data-remote]'); return v && v.videoWidth > 0 && v.readyState >= 2; }",
        timeout=30_000,
    )


def test_a_fan_calls_a_creator_both_see_video_and_the_receipts_match_the_ledger(new_context):
    creator = new_context("luna").new_page()
    creator.goto("/wallet/")  # an open tab: the creator is online, and hears the ring
    fan_context = new_context("alice")
    fan = fan_context.new_page()

    # The fan finds the creator online (presence is swept every few seconds).
    for _ in range(30):
        fan.goto("/@luna")
        if fan.get_by_role("link", name="Video call").count():
            break
        fan.wait_for_timeout(1000)
    fan.get_by_role("link", name="Video call").click()
    fan.get_by_role("button", name="Start video call").click()
    expect(fan).to_have_url(re.compile(r"/calls/[0-9a-f-]{36}/$"))
    call_id = fan.url.rstrip("/").rsplit("/", 1)[-1]

    # The creator's open tab rings; they accept.
    creator.locator(".call-ringer-item").get_by_role("button", name="Accept").click()
    expect(creator).to_have_url(re.compile(rf"/calls/{call_id}/$"))

    _remote_video_plays(fan)
    _remote_video_plays(creator)
    fan.wait_for_timeout(TALK_MS)
    fan.get_by_role("button", name="Hang up").click()

    fan_receipt, creator_receipt = _receipt(fan), _receipt(creator)
    assert fan_receipt == creator_receipt
    minutes, seconds = map(int, fan_receipt["Time talked"].split(":"))
    assert minutes * 60 + seconds >= TALK_MS // 1000  # at least what we waited (a loaded machine may add more)
    paid = int(fan_receipt["Tokens paid"])
    earned = int(creator_receipt["Creator earnings"])
    assert paid > 0 and earned + int(fan_receipt["Platform fee"]) == paid

    # The ledger says the same: the fan's wallet and the creator's earnings.
    fan_entries = fan_context.request.get("/api/wallet/transactions/?limit=100").json()["results"]
    assert sum(e["amount"] for e in fan_entries if e["reference"] == f"call:{call_id}" and e["account"] == "wallet") == -paid
    creator_entries = creator.context.request.get("/api/wallet/transactions/?limit=100").json()["results"]
    assert sum(e["amount"] for e in creator_entries if e["reference"] == f"call:{call_id}" and e["account"] == "earnings") == earned

    # And the wallets tell it in words, one line each.
    fan.goto("/wallet/")
    line = fan.locator(".activity-row", has=fan.locator(f'a[href="/calls/{call_id}/"]'))
    expect(line).to_contain_text("Video call with Luna Park")
    expect(line.locator(".activity-amount")).to_have_text(f"−{paid}")
    creator.goto("/wallet/")
    line = creator.locator(".activity-row", has=creator.locator(f'a[href="/calls/{call_id}/"]'))
    expect(line).to_contain_text("Video call with Alice Fan")
    expect(line.locator(".activity-amount")).to_have_text(f"+{earned}")
