"""Site-wide pages a newcomer meets: the nav, and friendly error pages in every mode."""

import re

import pytest
from django.test import Client, RequestFactory, override_settings

from creators.tests.factories import make_creator_profile
from digis import views
from ledger.services import grant_promotion


def _nav(html: str) -> str:
    return html[html.index('<nav class="nav"'): html.index("</nav>")]


@pytest.mark.django_db
class TestNav:
    def test_anonymous_nav_offers_sign_in_and_join_in_white(self, client):
        nav = _nav(client.get("/").content.decode())
        assert 'href="/accounts/login/"' in nav
        assert re.search(r'<a class="button button-primary" href="/accounts/signup/">Join</a>', nav)
        css = client.get("/static/css/app.css")
        body = b"".join(css.streaming_content).decode() if css.streaming else css.content.decode()
        # .nav-links a sets the text colour; the gradient button must win with white.
        assert ".nav-links a.button-primary { color: #fff; }" in body

    def test_signed_in_nav_has_balance_chip_to_buy_page_and_sign_out(self, client, alice):
        grant_promotion(user=alice, tokens=1234, idempotency_key="nav-test")
        client.force_login(alice)
        nav = _nav(client.get("/explore/").content.decode())
        chip = re.search(r'<a class="balance-chip" href="(?P<href>[^"]+)"[^>]*><span data-wallet-balance>(?P<balance>[^<]+)</span>', nav)
        assert chip and chip["href"] == "/wallet/buy/" and chip["balance"] == "1,234"
        assert re.search(r'<form method="post" action="/accounts/logout/">.*?<button[^>]*>Sign out</button>', nav, re.S)
        assert 'href="/wallet/"' in nav and 'href="/settings/"' in nav

    def test_sign_out_from_the_nav_form_signs_out(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        page = client.get("/").content.decode()
        token = re.search(r'action="/accounts/logout/">\s*<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
        assert response.status_code == 302
        assert "_auth_user_id" not in client.session

    def test_no_link_to_pages_that_do_not_exist(self, client, alice, bob):
        make_creator_profile(bob)
        client.force_login(alice)
        for path in ("/", "/explore/", f"/@{bob.username}", "/wallet/", "/wallet/buy/", "/settings/"):
            html = client.get(path).content.decode()
            assert ">Tip<" not in html, path
            # Messaging is built: its links (the nav's inbox, a profile's Message) lead to its pages.
            for link in set(re.findall(r'href="(/messages/[^"]*)"', html)):
                assert client.get(link).status_code == 200, (path, link)

    def test_staff_see_admin_in_menu_others_do_not(self, client, alice):
        client.force_login(alice)
        assert "/admin/" not in _nav(client.get("/").content.decode())
        alice.is_staff = True
        alice.save(update_fields=["is_staff"])
        assert 'href="/admin/"' in _nav(client.get("/").content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
class TestFriendlyErrors:
    def test_unknown_address_is_the_friendly_404(self, client, debug):
        with override_settings(DEBUG=debug):
            response = client.get("/no/such/page/")
        assert response.status_code == 404
        html = response.content.decode()
        assert "Page not found" in html and "Explore creators" in html
        assert "URLconf" not in html and "Django tried these URL patterns" not in html

    def test_http404_raised_by_a_view_is_the_friendly_404(self, client, debug):
        with override_settings(DEBUG=debug):
            response = client.get("/explore/tag/no-such-category/")
        assert response.status_code == 404
        assert "Page not found" in response.content.decode()
        assert "Raised by:" not in response.content.decode()

    def test_unknown_api_address_is_json(self, client, debug):
        with override_settings(DEBUG=debug):
            response = client.get("/api/no-such-endpoint/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_missing_csrf_token_is_a_friendly_403(self, alice, debug):
        client = Client(enforce_csrf_checks=True)
        with override_settings(DEBUG=debug):
            response = client.post("/accounts/login/", {"username": "alice", "password": "x"})
        assert response.status_code == 403
        assert "Please try again" in response.content.decode()
        assert "CSRF verification failed" not in response.content.decode()


def test_the_500_page_draws_without_a_database_or_session():
    request = RequestFactory().get("/somewhere/")  # no user, no session attached
    response = views.handler500(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and 'href="/"' in html
