"""A newcomer joins: sign up, confirm the e-mail from the link we sent, sign out, sign in again."""

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_sign_up_verify_sign_out_and_in(new_context, site_server):
    page = new_context().new_page()
    name = f"newbie{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    password = "a long and unusual passphrase"

    # given a visitor on the home page
    page.goto("/")
    page.get_by_role("link", name="Join").click()

    # when they sign up
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("Create|Sign up|Join", re.I)).click()

    # then they are signed in and told to confirm their e-mail
    expect(page.locator(".flash")).to_contain_text(email)

    # when they open the link from the e-mail the server sent
    link = site_server.emailed_link(to=email, path_prefix="/accounts/verify/")
    page.goto(link)
    expect(page.locator("main")).to_contain_text(re.compile("confirmed|verified", re.I))

    # when they sign out from the menu under their name
    page.locator(".nav-menu summary").click()
    page.locator(".nav-menu").get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash")).to_contain_text("signed out")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert page.locator("body").get_attribute("data-user-id") is None

    # and sign in again through the form
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username or e-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("body")).to_have_attribute("data-user-id", re.compile(".+"))
