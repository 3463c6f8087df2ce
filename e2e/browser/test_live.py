"""A live stream as people meet it: a creator goes live with her camera, a fan watches her video,
chats and tips, the creator sees both live, ends the stream and reads its summary."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_go_live_watch_chat_tip_and_end_with_a_summary(new_context):
    host = new_context("maya").new_page()
    host.goto("/live/start/")
    host.get_by_label("Title").fill("Morning breathing, live")
    host.get_by_role("button", name="Go live").click()
    expect(host).to_have_url(re.compile(r"/live/maya/$"))
    expect(host.get_by_role("heading", name="Morning breathing, live")).to_be_visible()

    fan = new_context("alice").new_page()
    fan.goto("/live/")
    fan.get_by_role("link", name=re.compile("Morning breathing, live")).first.click()
    expect(fan).to_have_url(re.compile(r"/live/maya/$"))
    # The host's camera (Chromium's fake device) reaches the viewer.
    fan.wait_for_function(
        "() => { const v = document.querySelector('video[data-video]'); return v && v.videoWidth > 0 && v.readyState >= 2; }",
        timeout=30_000,
    )
    expect(host.locator("[data-viewers]")).to_have_text("1")

    chat = fan.locator("[data-chat-form]")
    chat.get_by_role("textbox").fill("hello from the front row")
    chat.get_by_role("button", name="Send", exact=True).click()
    expect(host.locator("[data-chat]")).to_contain_text("hello from the front row")

    tip = fan.locator("[data-tip-form]")
    tip.get_by_label("Tokens").fill("15")
    tip.get_by_role("button", name="Send tip").click()
    expect(fan.locator("[data-status]")).to_contain_text("You tipped 15 tokens.")
    expect(host.locator("[data-alerts]")).to_contain_text("tipped 15 tokens")

    host.get_by_role("button", name="End stream").click()
    summary = host.locator(".live-summary")
    expect(summary).to_contain_text("15 tokens from 1 tip")
    expect(summary).to_contain_text(re.compile(r"Chat messages\s*1\b"))
    expect(host.locator(".live-top")).to_contain_text("15 tokens")
