"""A fan writes a paid message from a creator's profile (the message pop-up); the creator sees it
arrive in the open thread, answers it, and the fan watches the message turn from held to answered."""

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _tokens(n: int) -> re.Pattern:
    """A balance as the page shows it: rendered by the server, or live as the push formats it (1,234)."""
    return re.compile(rf"^\s*({n}|{n:,})\s*$")


def test_a_paid_message_from_a_profile_is_held_then_earned_when_the_creator_answers(new_context):
    text = f"Could you play the Juno patch live? ({uuid.uuid4().hex[:8]})"
    reply = f"Tonight at ten, just for you. ({uuid.uuid4().hex[:8]})"

    # The creator has her thread with the fan open (the demo data gives them one).
    creator = new_context("luna").new_page()
    creator.goto("/messages/")
    creator.locator(".conversation", has_text="Alice Fan").get_by_role("link").click()
    expect(creator).to_have_url(re.compile(r"/messages/[0-9a-f-]{36}/$"))

    # The fan reads the price on the profile and opens the pop-up from its Message button.
    fan = new_context("alice").new_page()
    fan.goto("/@luna")
    price_cell = fan.locator("#rates ~ table tr:has(th:text-is('Message')) td")
    price = int(re.match(r"(\d+) tokens, held until answered", price_cell.inner_text()).group(1))
    balance = fan.locator("[data-wallet-balance]")
    before = int(balance.inner_text().replace(",", ""))
    expect(fan.locator("#chat-launcher")).to_be_visible()  # popup.js has run: Message opens the pop-up
    fan.locator(".creator-actions").get_by_role("link", name="Message", exact=True).click()
    panel = fan.locator("#chat-panel")
    expect(panel.locator("#chat-title")).to_have_text("Luna Park")
    panel.locator("#chat-text").fill(text)
    panel.get_by_role("button", name=f"Send · {price}").click()

    # Held, not taken: the fan's wallet shows it gone, her message says it comes back if unanswered.
    sent = panel.locator(".msg", has_text=text)
    expect(sent.locator(".msg-escrow")).to_contain_text(f"held · {price} tokens, refunded if Luna Park doesn't reply by")
    expect(balance).to_have_text(_tokens(before - price))

    # It arrives in the creator's open thread as money offered for a reply.
    received = creator.locator("#thread .msg", has_text=text)
    expect(received.locator(".msg-escrow")).to_contain_text(f"paid {price} tokens")
    creator.locator("#composer-text").fill(reply)
    creator.locator("#composer").get_by_role("button", name="Send").click()
    expect(creator.locator("#thread .msg", has_text=reply)).to_be_visible()
    expect(received.locator(".msg-escrow")).to_have_text(f"answered · {price} tokens")

    # The fan sees the answer arrive in the pop-up and her message marked answered; the tokens stay spent.
    expect(panel.locator(".msg", has_text=reply)).to_be_visible()
    expect(sent.locator(".msg-escrow")).to_have_text(f"answered · {price} tokens")
    expect(balance).to_have_text(_tokens(before - price))
