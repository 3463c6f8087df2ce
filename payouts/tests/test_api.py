"""The payouts API and pages: who may see what, the request, the statement and its CSV, the account, the schema."""

import csv
import io

import pytest
import yaml

from accounts.tests.factories import make_creator
from ledger.checks import run_all
from payouts.models import Payout, PayoutAccount, PayoutMethod, PayoutStatus
from payouts.tests.factories import buy_tokens, earn, manual_account


@pytest.fixture
def bob_with_payable(alice, bob, later):
    buy_tokens(alice, 2000)
    earn(bob, alice, 500)
    earn(bob, alice, 250)
    manual_account(bob)
    later(days=8)
    return bob


@pytest.mark.django_db
def test_a_creator_requests_a_payout_and_reads_its_statement(bob_with_payable, api_as):
    client = api_as(bob_with_payable)

    summary = client.get("/api/payouts/earnings/").json()
    assert summary["payable"] == 600 and summary["can_request"] and summary["rules"]["hold_days"] == 7
    assert any("400 tokens" in rule for rule in summary["rules"]["in_words"])

    created = client.post("/api/payouts/", {}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["tokens"] == 600 and body["amount_cents"] == 3000 and body["status"] == "requested"
    assert [line["net"] for line in body["statement"]] == [400, 200]
    assert sum(line["tokens"] for line in body["statement"]) == 600

    listed = client.get("/api/payouts/").json()
    assert [p["id"] for p in listed["results"]] == [body["id"]]
    detail = client.get(f"/api/payouts/{body['id']}/").json()
    assert detail["statement"] == body["statement"]

    response = client.get(body["statement_csv"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["earned_at", "kind", "earning"]
    assert [row[7] for row in rows[1:-1]] == ["400", "200"]
    assert rows[-1][1] == "total" and rows[-1][7] == "600" and rows[-1][8] == "30.00 USD"
    assert sum(int(row[7]) for row in rows[1:-1]) == int(rows[-1][7])
    assert {name: found for name, found in run_all().items() if found} == {}


@pytest.mark.django_db
def test_refusals_have_stable_codes_and_change_nothing(bob_with_payable, api_as):
    client = api_as(bob_with_payable)
    too_small = client.post("/api/payouts/", {"tokens": 100}, format="json")
    assert too_small.status_code == 409 and too_small.json()["error"]["code"] == "below_minimum"
    too_big = client.post("/api/payouts/", {"tokens": 601}, format="json")
    assert too_big.status_code == 409 and too_big.json()["error"]["code"] == "exceeds_payable"
    assert too_big.json()["error"]["payable"] == 600
    bad = client.post("/api/payouts/", {"tokens": "lots"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    assert Payout.objects.count() == 0
    client.post("/api/payouts/", {"tokens": 400}, format="json")
    again = client.post("/api/payouts/", {"tokens": 400}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "payout_in_progress"


@pytest.mark.django_db
def test_fans_and_other_creators_get_404(bob_with_payable, api_as, alice, mallory):
    payout = api_as(bob_with_payable).post("/api/payouts/", {}, format="json").json()
    carol = make_creator("carol")
    for intruder in (alice, mallory):
        client = api_as(intruder)
        for path in ("/api/payouts/", "/api/payouts/earnings/", "/api/payouts/account/", f"/api/payouts/{payout['id']}/",
                     f"/api/payouts/{payout['id']}/statement.csv"):
            response = client.get(path)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_a_creator", path
        assert client.post("/api/payouts/", {}, format="json").status_code == 404
    other = api_as(carol)
    assert other.get(f"/api/payouts/{payout['id']}/").json()["error"]["code"] == "payout_not_found"
    assert other.get(f"/api/payouts/{payout['id']}/statement.csv").status_code == 404
    assert other.get("/api/payouts/").json()["results"] == []
    assert other.get("/api/payouts/not-a-uuid/").status_code == 404
    assert api_as(carol).post("/api/payouts/", {}, format="json").json()["error"]["code"] == "payout_account_missing"


@pytest.mark.django_db
def test_anonymous_callers_are_refused(client):
    assert client.get("/api/payouts/").status_code in (401, 403)
    assert client.get("/earnings/").status_code == 302  # to sign in


@pytest.mark.django_db
def test_bank_details_are_validated_and_kept_masked(bob, api_as):
    client = api_as(bob)
    bad = client.post("/api/payouts/account/", {"method": "manual", "scheme": "iban", "holder": "Bob B", "iban": "DE89 3704 0044 0532 0130 01"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_bank_details" and "iban" in bad.json()["error"]["fields"]
    bad_routing = client.post("/api/payouts/account/", {"method": "manual", "scheme": "us_aba", "holder": "Bob", "routing_number": "123456789", "account_number": "000123456789"}, format="json")
    assert bad_routing.json()["error"]["fields"].keys() == {"routing_number"}
    assert not PayoutAccount.objects.filter(user=bob).exclude(bank_masked="").exists()

    good = client.post("/api/payouts/account/", {"method": "manual", "scheme": "iban", "holder": "Bob B", "iban": "de89 3704 0044 0532 0130 00"}, format="json")
    assert good.status_code == 200, good.content
    account = PayoutAccount.objects.get(user=bob)
    assert account.method == PayoutMethod.MANUAL and account.ready and account.bank_masked == "DE •••• 3000"
    stored = " ".join(str(value) for value in PayoutAccount.objects.filter(user=bob).values().first().values())
    assert "0532013000" not in stored and "370400440532013000" not in stored
    us = client.post("/api/payouts/account/", {"method": "manual", "scheme": "us_aba", "holder": "Bob", "routing_number": "110000000", "account_number": "000123456789"}, format="json")
    assert us.json()["account"]["bank_masked"] == "US •••• 6789"
    assert client.patch("/api/payouts/account/", {"schedule": "on_request"}, format="json").json()["schedule"] == "on_request"
    assert client.patch("/api/payouts/account/", {"schedule": "daily"}, format="json").status_code == 400


@pytest.mark.django_db
def test_the_database_refuses_a_full_account_number(bob):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        PayoutAccount.objects.create(user=bob, method=PayoutMethod.MANUAL, bank_masked="DE89370400440532013000")


@pytest.mark.django_db
def test_the_schema_describes_the_payout_endpoints_truthfully(api_as, bob):
    schema = yaml.safe_load(api_as(bob).get("/api/schema/").content)
    paths = schema["paths"]
    csv_responses = paths["/api/payouts/{payout_id}/statement.csv"]["get"]["responses"]
    assert list(csv_responses["200"]["content"]) == ["text/csv"]
    assert "application/json" in csv_responses["404"]["content"]
    assert {"get", "post"} <= set(paths["/api/payouts/"])
    assert "409" in paths["/api/payouts/"]["post"]["responses"]
    assert {"get", "post", "patch"} <= set(paths["/api/payouts/account/"])
    assert "/api/payouts/earnings/" in paths


@pytest.mark.django_db
def test_the_earnings_page_shows_every_figure_and_rule(bob_with_payable, client):
    client.force_login(bob_with_payable)
    page = client.get("/earnings/")
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("Payable now", "Pending", "In transit", "Paid so far", "Request payout", "How payouts work",
                     "becomes payable 7 days after", "The minimum payout is 400 tokens", "checked by our team",
                     "Where your payouts go", "DE •••• 3000", 'href="/earnings/"'):
        assert expected in text, expected
    assert "<script>" not in text and "onclick" not in text  # CSP: no inline scripts or handlers


@pytest.mark.django_db
def test_pages_are_creators_only(client, alice, carol, bob_with_payable, api_as):
    payout = api_as(bob_with_payable).post("/api/payouts/", {}, format="json").json()
    client.force_login(alice)
    assert client.get("/earnings/").status_code == 404
    assert client.get(f"/earnings/payouts/{payout['id']}/").status_code == 404
    assert "/earnings/" not in client.get("/wallet/").content.decode()  # no Earnings link for fans
    client.force_login(carol)
    assert client.get(f"/earnings/payouts/{payout['id']}/").status_code == 404
    assert client.post("/earnings/request/").status_code == 302  # refused with a message, nothing made
    assert Payout.objects.filter(creator=carol).count() == 0


@pytest.mark.django_db
def test_requesting_from_the_page_without_javascript(bob_with_payable, client):
    client.force_login(bob_with_payable)
    response = client.post("/earnings/request/", {"tokens": ""})
    payout = Payout.objects.get(creator=bob_with_payable)
    assert response.status_code == 302 and response["Location"] == f"/earnings/payouts/{payout.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Statement" in page and "Download CSV" in page and "600" in page and payout.status == PayoutStatus.REQUESTED


@pytest.mark.django_db
def test_all_on_the_page_pays_out_what_the_page_showed(bob_with_payable, alice, client, later):
    """"Leave empty for all 600" pays out 600, even if more became payable before the click."""
    client.force_login(bob_with_payable)
    page = client.get("/earnings/").content.decode()
    assert 'name="shown" value="600"' in page
    earn(bob_with_payable, alice, 500)  # 400 more, payable after the hold
    later(days=8)
    client.post("/earnings/request/", {"tokens": "", "shown": "600"})
    assert Payout.objects.get(creator=bob_with_payable).tokens == 600


@pytest.mark.django_db
def test_bank_form_errors_are_shown_on_the_page(bob, client):
    client.force_login(bob)
    response = client.post("/earnings/account/", {"method": "manual", "scheme": "uk_sort_code", "holder": "Bob", "sort_code": "12-34", "account_number": "12345678"})
    assert response.status_code == 400
    assert "six digits" in response.content.decode()
    ok = client.post("/earnings/account/", {"method": "manual", "scheme": "uk_sort_code", "holder": "Bob", "sort_code": "12-34-56", "account_number": "12345678"})
    assert ok.status_code == 302 and PayoutAccount.objects.get(user=bob).bank_masked == "GB •••• 5678"


@pytest.mark.django_db
def test_demo_data_gives_the_first_creator_pending_earnings(alice, bob):
    from ledger.demo import seed as ledger_seed
    from payouts import demo, selectors

    context = {"fan": alice, "creators": [bob]}
    ledger_seed(context)
    demo.seed(context)
    demo.seed(context)  # idempotent
    position = selectors.creator_position(user=bob)
    assert position.pending == 400 and position.payable == 0  # 500 paid, 20 % fee, all in the hold
    assert PayoutAccount.objects.get(user=bob).ready


@pytest.mark.django_db
def test_a_platform_without_connect_offers_only_bank_transfers(bob, api_as, client, settings):
    settings.PAYOUT_METHODS = ["manual"]
    response = api_as(bob).post("/api/payouts/account/", {"method": "stripe", "country": "US"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "payout_method_unavailable"
    client.force_login(bob)
    page = client.get("/earnings/").content.decode()
    assert "Connect with Stripe" not in page and "Bank transfer by Digis" in page


@pytest.mark.django_db
def test_payout_pages_refuse_bad_paging(bob, api_as):
    client = api_as(bob)
    assert client.get("/api/payouts/?page_size=null").json()["error"]["fields"].keys() == {"page_size"}
    assert client.get("/api/payouts/?page_size=1000").status_code == 400
    bogus = client.get("/api/payouts/?cursor=bogus")  # malformed input, as everywhere else: 400, not 404
    assert bogus.status_code == 400 and bogus.json()["error"]["code"] == "invalid_cursor"
    assert client.get("/api/payouts/?page_size=5").status_code == 200
    assert client.post("/api/payouts/account/", "method=manual", content_type="application/x-www-form-urlencoded").status_code == 415
