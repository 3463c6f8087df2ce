"""The notifications API: only your own rows; malformed ids are 400, others' are 404."""

import uuid

import pytest

from notifications import services
from notifications.models import Notification, NotificationKind

pytestmark = pytest.mark.django_db


def tip(recipient, actor, n=1):
    return [services.notify(recipient=recipient, kind=NotificationKind.TIP_RECEIVED, text=f"tip {i}", actor=actor) for i in range(n)]


def test_list_pages_by_cursor_newest_first_with_the_unread_count(api_as, alice, bob):
    made = tip(bob, alice, 25)
    client = api_as(bob)
    first = client.get("/api/notifications/").json()
    assert first["unread"] == 25
    assert [n["id"] for n in first["results"]] == [str(n.pk) for n in reversed(made)][:20]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert {n["id"] for n in first["results"] + second["results"]} == {str(n.pk) for n in made}


def test_list_shows_only_your_own(api_as, alice, bob, mallory):
    tip(bob, alice, 2)
    assert api_as(mallory).get("/api/notifications/").json() == {"next": None, "previous": None, "results": [], "unread": 0}


def test_a_malformed_cursor_is_a_400(api_as, bob):
    response = api_as(bob).get("/api/notifications/?cursor=%%%garbage")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_unread_filter(api_as, alice, bob):
    read, unread = tip(bob, alice, 2)
    services.mark_read(user=bob, notification_id=read.pk)
    body = api_as(bob).get("/api/notifications/?unread=1").json()
    assert [n["id"] for n in body["results"]] == [str(unread.pk)]
    assert api_as(bob).get("/api/notifications/?unread=maybe").status_code == 400


def test_mark_read_is_idempotent(api_as, alice, bob):
    [notification] = tip(bob, alice)
    client = api_as(bob)
    for _ in range(2):
        response = client.post(f"/api/notifications/{notification.pk}/read/")
        assert response.status_code == 200
        assert response.json()["read"] is True


def test_a_malformed_id_is_a_400_with_a_code(api_as, bob):
    response = api_as(bob).post("/api/notifications/not-a-uuid/read/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_id"


def test_someone_elses_notification_is_a_404_and_stays_unread(api_as, alice, bob, mallory):
    [notification] = tip(bob, alice)
    response = api_as(mallory).post(f"/api/notifications/{notification.pk}/read/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notification_not_found"
    notification.refresh_from_db()
    assert notification.read_at is None
    assert api_as(bob).post(f"/api/notifications/{uuid.uuid4()}/read/").status_code == 404


def test_read_all_marks_only_mine(api_as, alice, bob, mallory):
    tip(bob, alice, 3)
    services.notify(recipient=mallory, kind=NotificationKind.TIP_RECEIVED, text="x", actor=alice)
    body = api_as(bob).post("/api/notifications/read-all/").json()
    assert body == {"marked": 3, "unread": 0}
    assert Notification.objects.filter(recipient=mallory, read_at__isnull=True).count() == 1


def test_read_tells_my_other_tabs_the_new_count(api_as, alice, bob, listen, django_capture_on_commit_callbacks):
    first, _ = tip(bob, alice, 2)
    tab = listen(bob)
    with django_capture_on_commit_callbacks(execute=True):
        api_as(bob).post(f"/api/notifications/{first.pk}/read/")
    assert [e["unread"] for e in tab.of_type("notification.unread")] == [1]


def test_anonymous_callers_are_refused(api):
    assert api.get("/api/notifications/").status_code in (401, 403)
    assert api.post("/api/notifications/read-all/").status_code in (401, 403)
    assert api.get("/api/notifications/preferences/").status_code in (401, 403)
    assert api.get("/api/notifications/push/").status_code in (401, 403)


def test_preferences_read_and_patch(api_as, bob):
    client = api_as(bob)
    assert client.get("/api/notifications/preferences/").json()["kinds"]["call_incoming"]["push"] is True
    response = client.patch(
        "/api/notifications/preferences/",
        {"kinds": {"call_incoming": {"push": False}}, "filter_never_paid": True},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["kinds"]["call_incoming"] == {"in_app": True, "push": False, "email": False}
    assert response.json()["filter_never_paid"] is True
    bad = client.patch("/api/notifications/preferences/", {"kinds": {"nope": {"push": False}}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_preferences"


def test_push_status_says_off_without_keys(api_as, bob, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    assert api_as(bob).get("/api/notifications/push/").json() == {"enabled": False, "public_key": None, "subscriptions": []}


def test_push_subscribe_and_unsubscribe(api_as, bob, mallory, push_service, vapid):
    browser = push_service.new_browser()
    client = api_as(bob)
    assert client.get("/api/notifications/push/").json()["public_key"] == vapid
    created = client.post("/api/notifications/push/subscriptions/", browser.subscription_json, format="json")
    assert created.status_code == 201
    assert client.post("/api/notifications/push/subscriptions/", browser.subscription_json, format="json").status_code == 200
    subscription_id = created.json()["id"]
    # mallory cannot remove bob's device, by id or by a made-up endpoint.
    assert api_as(mallory).delete(f"/api/notifications/push/subscriptions/{subscription_id}/").status_code == 404
    assert api_as(mallory).post("/api/notifications/push/unsubscribe/", {"endpoint": browser.endpoint}, format="json").json() == {"removed": False}
    assert client.delete("/api/notifications/push/subscriptions/not-an-id/").status_code == 400
    assert client.post("/api/notifications/push/unsubscribe/", {"endpoint": browser.endpoint}, format="json").json() == {"removed": True}


def test_push_subscribe_refuses_garbage(api_as, bob, vapid):
    client = api_as(bob)
    for body in ({}, {"endpoint": "https://fcm.googleapis.com/x"}, {"endpoint": "x", "keys": {"p256dh": "a", "auth": "b"}}):
        response = client.post("/api/notifications/push/subscriptions/", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] in ("invalid", "invalid_push_subscription")


def test_the_schema_documents_the_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/notifications/" in paths
    listing = paths["/api/notifications/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"cursor", "unread"}
    assert {"200", "400"} <= set(listing["responses"])
    read = paths["/api/notifications/{id}/read/"]["post"]
    assert {"200", "400", "404"} <= set(read["responses"])


def test_the_list_refuses_a_page_size_it_does_not_document(api_as, alice):
    # schemathesis: ?page_size=null&page_size=null was quietly read as the default.
    client = api_as(alice)
    for bad in ("null", "0", "101", "-1", "null&page_size=null"):
        response = client.get(f"/api/notifications/?page_size={bad}")
        assert response.status_code == 400, bad
        assert response.json()["error"]["fields"].keys() == {"page_size"}, bad
    assert client.get("/api/notifications/?page_size=100").status_code == 200
