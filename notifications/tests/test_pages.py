"""Pages: the bell on every page, the list without JavaScript, settings, and the installable app's pieces."""

import json
import re

import pytest
from django.test import Client

from notifications import services
from notifications.models import Notification, NotificationKind

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def tip(recipient, actor, n=1, url=""):
    return [
        services.notify(recipient=recipient, kind=NotificationKind.TIP_RECEIVED, text=f"tip {i}", actor=actor, url=url)
        for i in range(n)
    ]


def test_the_bell_shows_the_server_count_on_every_page(alice, bob):
    tip(bob, alice, 3)
    for path in ("/", "/settings/", "/notifications/"):
        html = signed_in(bob).get(path).content.decode()
        assert 'id="notification-bell"' in html, path
        assert 'data-unread="3"' in html
        assert "Notifications, 3 unread" in html
    assert 'id="notification-bell"' not in Client().get("/").content.decode()


def test_the_bell_caps_its_count(alice, bob):
    Notification.objects.bulk_create(
        [Notification(recipient=bob, kind=NotificationKind.TIP_RECEIVED, text=f"{i}") for i in range(120)]
    )
    assert "99+" in signed_in(bob).get("/").content.decode()


def test_every_page_links_the_manifest_and_installs_the_worker(bob):
    html = Client().get("/").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert "notifications/pwa.js" in html


def test_list_and_forms_work_without_javascript(alice, bob):
    first, second = tip(bob, alice, 2, url="/explore/")
    client = signed_in(bob)
    html = client.get("/notifications/").content.decode()
    assert "tip 0" in html and "tip 1" in html
    assert html.count(' action="/notifications/') == 3  # each unread one's form and "Mark all read"
    assert html.count("Mark read<") == 3  # and the form bell.js clones for one that arrives live
    response = client.post(f"/notifications/{first.pk}/read/", {"next": "/notifications/"})
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    first.refresh_from_db()
    assert first.read_at is not None
    # Opening one marks it read and goes where it points.
    response = client.get(f"/notifications/{second.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/explore/"
    response = client.post("/notifications/read-all/")
    assert response.status_code == 302


def test_the_list_never_redirects_off_site(alice, bob):
    [notification] = tip(bob, alice, url="//evil.example/")
    response = signed_in(bob).get(f"/notifications/{notification.pk}/open/")
    assert response["Location"] == "/notifications/"
    response = signed_in(bob).post(f"/notifications/{notification.pk}/read/", {"next": "https://evil.example/"})
    assert response["Location"] == "/notifications/"


def test_others_notifications_are_404_on_pages(alice, bob, mallory):
    [notification] = tip(bob, alice)
    client = signed_in(mallory)
    assert client.post(f"/notifications/{notification.pk}/read/").status_code == 404
    assert client.get(f"/notifications/{notification.pk}/open/").status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_list_pages_with_older(alice, bob):
    tip(bob, alice, 35)
    client = signed_in(bob)
    html = client.get("/notifications/").content.decode()
    older = re.search(r'href="\?before=([0-9a-f-]+)"', html).group(1)
    rest = client.get(f"/notifications/?before={older}").content.decode()
    assert rest.count('class="notification ') == 5
    assert client.get("/notifications/?before=nonsense").status_code == 400


def test_settings_page_saves_switches_and_says_push_is_off_without_keys(bob, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    client = signed_in(bob)
    html = client.get("/settings/notifications/").content.decode()
    assert "Web push is not set up on this server" in html
    assert "Turn on push" not in html
    response = client.post(
        "/settings/notifications/",
        {"call_incoming:in_app": "on", "call_incoming:email": "on", "filter_never_paid": "on"},
    )
    assert response.status_code == 302
    prefs = services.preferences_of(bob)
    assert prefs["kinds"]["call_incoming"] == {"in_app": True, "push": False, "email": True}
    assert prefs["kinds"]["tip_received"] == {"in_app": False, "push": False, "email": False}
    assert prefs["kinds"]["moderation"]["in_app"] is True  # locked on
    assert prefs["filter_never_paid"] is True and prefs["filter_not_following"] is False


def test_settings_page_offers_push_when_configured(bob, push_service):
    browser = push_service.new_browser()
    services.subscribe_push(user=bob, **browser.subscription)
    html = signed_in(bob).get("/settings/notifications/").content.decode()
    assert "Turn on push on this device" in html
    assert "notifications/push.js" in html
    assert "Devices with push on" in html


def test_manifest_is_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/" and manifest["name"]
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_service_worker_is_served_from_the_root_and_caches_nothing_private(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    source = response.content.decode()
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", source).group(1))
    assert "/offline/" in shell
    for url in shell:
        assert url == "/offline/" or url.startswith("/static/"), url
    assert "__SHELL_VERSION__" not in source
    assert re.search(r'const CACHE = "digis-shell-[0-9a-f]{12}";', source)


def test_offline_page_holds_nothing_about_whoever_fetched_it(bob):
    html = signed_in(bob).get("/offline/").content.decode()
    assert "You are offline" in html
    assert bob.username not in html and "csrfmiddlewaretoken" not in html and "data-user-id" not in html


def test_no_inline_scripts_in_our_pages(alice, bob):
    tip(bob, alice)
    for path in ("/notifications/", "/settings/notifications/", "/offline/"):
        html = signed_in(bob).get(path).content.decode()
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", html), path
