"""The calls API: who may see and do what, error codes, history with receipts."""

from datetime import timedelta

import pytest

from calls.models import CallSession
from calls.tests.conftest import START

pytestmark = pytest.mark.django_db


def test_ring_accept_and_hang_up_over_the_api(ready, api_as, traveller):
    alice, bob = ready
    response = api_as(alice).post("/api/calls/", {"creator": "bob", "kind": "video"}, format="json")
    assert response.status_code == 201, response.json()
    call_id = response.json()["id"]
    assert response.json()["status"] == "requested" and response.json()["rate"] == 10

    response = api_as(bob).post(f"/api/calls/{call_id}/accept/")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert response.json()["media"]["call_id"] == call_id
    assert api_as(alice).post(f"/api/calls/{call_id}/token/").json()["call_id"] == call_id

    response = api_as(alice).post(f"/api/calls/{call_id}/end/")
    assert response.status_code == 200 and response.json()["status"] == "ended"
    history = api_as(bob).get("/api/calls/").json()
    assert [c["id"] for c in history["results"]] == [call_id]
    assert history["results"][0]["receipt"]["tokens_paid"] == 0


def test_mallory_gets_404_for_every_call_endpoint(ready, api_as, mallory, traveller):
    alice, bob = ready
    call = api_as(alice).post("/api/calls/", {"creator": "bob", "kind": "voice"}, format="json").json()
    client = api_as(mallory)
    assert client.get(f"/api/calls/{call['id']}/").status_code == 404
    for action in ("accept", "decline", "cancel", "end", "token"):
        response = client.post(f"/api/calls/{call['id']}/{action}/")
        assert response.status_code == 404, action
        assert response.json()["error"]["code"] == "call_not_found"
    assert client.get("/api/calls/").json()["results"] == []
    assert CallSession.objects.get(pk=call["id"]).status == "requested"


def test_wrong_party_gets_403_with_a_code(ready, api_as, traveller):
    alice, bob = ready
    call = api_as(alice).post("/api/calls/", {"creator": "bob", "kind": "video"}, format="json").json()
    response = api_as(alice).post(f"/api/calls/{call['id']}/accept/")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "only_creator_can_accept")
    response = api_as(bob).post(f"/api/calls/{call['id']}/cancel/")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "only_fan_can_cancel")


def test_bad_input_is_a_4xx_never_a_500(ready, api_as, mallory, traveller):
    alice, _ = ready
    client = api_as(alice)
    assert client.post("/api/calls/", {"kind": "video"}, format="json").status_code == 400
    assert client.post("/api/calls/", {"creator": "bob", "kind": "fax"}, format="json").json()["error"]["code"] == "invalid"
    assert client.get("/api/calls/not-a-uuid/").status_code == 404
    response = client.get("/api/calls/?cursor=garbage")  # like Explore: a 400 with a code, not a 404
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_cursor")
    response = api_as(mallory).post("/api/calls/", {"creator": "bob", "kind": "video"}, format="json")
    body = response.json()["error"]
    assert (response.status_code, body["code"], body["shortfall"]) == (402, "insufficient_funds", 10)
    assert api_as(alice).post("/api/calls/", {"creator": "alice", "kind": "video"}, format="json").status_code == 404
    assert CallSession.objects.count() == 0


def test_history_pages_by_cursor(ready, api_as, traveller):
    alice, bob = ready
    ids = []
    for n in range(3):
        traveller.move_to(START + timedelta(minutes=n))
        call = api_as(alice).post("/api/calls/", {"creator": "bob", "kind": "voice"}, format="json").json()
        api_as(bob).post(f"/api/calls/{call['id']}/decline/")
        ids.append(call["id"])
    page = api_as(alice).get("/api/calls/?page_size=2").json()
    assert [c["id"] for c in page["results"]] == ids[::-1][:2]
    rest = api_as(alice).get(page["next"]).json()
    assert [c["id"] for c in rest["results"]] == ids[:1]
    assert rest["results"][0]["end_reason"] == "declined"


def test_unauthenticated_is_refused(api):
    assert api.get("/api/calls/").status_code in (401, 403)
