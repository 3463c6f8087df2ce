import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from ledger import services
from ledger.models import Account, AccountKind
from ledger.tests.factories import fund

pytestmark = pytest.mark.django_db


def test_wallet_requires_sign_in(api):
    response = api.get("/api/wallet/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_fan_sees_own_balance(api_as, alice):
    fund(alice, 120)
    body = api_as(alice).get("/api/wallet/").json()
    assert body == {"balance": 120, "debt": 0, "frozen": False}


def test_creator_sees_earnings_available_and_pending(api_as, alice, bob):
    fund(alice, 100)
    services.charge_with_fee(payer=alice, creator=bob, amount=50, kind="tip", idempotency_key="t1", fee_bps=2000)
    services.release_earnings(user=bob)
    services.charge_with_fee(payer=alice, creator=bob, amount=10, kind="tip", idempotency_key="t2", fee_bps=2000)
    body = api_as(bob).get("/api/wallet/").json()
    assert body["balance"] == 40
    assert body["earnings_available"] == 40
    assert body["earnings_pending"] == 8


def test_history_is_own_newest_first_with_counterparty(api_as, alice, bob, mallory):
    bob.first_name, bob.last_name = "Bob", "Builder"
    bob.save()
    fund(alice, 100)
    fund(mallory, 100)
    services.charge_with_fee(payer=alice, creator=bob, amount=30, kind="tip", idempotency_key="tip", reference="tip:1")
    services.transfer(source=mallory, destination=bob, amount=5, kind="transfer", idempotency_key="m")

    body = api_as(alice).get("/api/wallet/transactions/").json()
    kinds = [item["kind"] for item in body["results"]]
    assert kinds == ["tip", "purchase"]
    tip = body["results"][0]
    assert tip["amount"] == -30 and tip["balance_after"] == 70
    assert tip["counterparty"] == "Bob Builder" and tip["reference"] == "tip:1"
    assert body["results"][1]["counterparty"] == "Card payment"
    # mallory's own history never shows alice's entries
    mallory_ids = {item["transaction_id"] for item in api_as(mallory).get("/api/wallet/transactions/").json()["results"]}
    alice_ids = {item["transaction_id"] for item in body["results"]}
    assert not mallory_ids & alice_ids


def test_history_keyset_pagination(api_as, alice):
    for _ in range(5):
        fund(alice, 1)
    client = api_as(alice)
    first = client.get("/api/wallet/transactions/?limit=2").json()
    second = client.get(f"/api/wallet/transactions/?limit=2&cursor={first['next_cursor']}").json()
    third = client.get(f"/api/wallet/transactions/?limit=2&cursor={second['next_cursor']}").json()
    seen = [i["id"] for page in (first, second, third) for i in page["results"]]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert third["next_cursor"] is None


@pytest.mark.parametrize("query", ["cursor=abc", "cursor=-1", "limit=0", "limit=1000", "limit=x"])
def test_bad_query_params_are_400(api_as, alice, query):
    response = api_as(alice).get(f"/api/wallet/transactions/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_wallet_endpoints_are_read_only(api_as, alice):
    assert api_as(alice).post("/api/wallet/", {"balance": 10**6}).status_code == 405
    assert services.balance_of(user=alice) == 0


def test_wallet_page_shows_balance_history_and_chart(client, alice, bob):
    fund(alice, 100)
    services.charge_with_fee(payer=alice, creator=bob, amount=30, kind="tip", idempotency_key="tip")
    client.force_login(alice)
    page = client.get("/wallet/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<span data-wallet-balance>70</span>" in html
    assert "<svg" in html and "spent 30" in html
    assert f"Tip to {bob.username}" in html and "−30<" in html
    assert client.get("/wallet/?before=nonsense").status_code == 200


def test_wallet_page_requires_login(client):
    response = client.get("/wallet/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_ledger_check_passes_on_a_consistent_ledger(alice, bob, capsys):
    fund(alice, 100)
    services.charge_with_fee(payer=alice, creator=bob, amount=30, kind="tip", idempotency_key="tip")
    call_command("ledger_check")
    assert "FAIL" not in capsys.readouterr().out


def test_ledger_check_names_the_offender_and_rebuild_fixes_it(alice, capsys):
    fund(alice, 100)
    wallet = Account.objects.get(user=alice, kind=AccountKind.WALLET)
    Account.objects.filter(pk=wallet.pk).update(balance=90)  # simulated drift of the cache
    with pytest.raises(CommandError):
        call_command("ledger_check")
    assert f"account {wallet.pk}" in capsys.readouterr().out

    call_command("ledger_rebuild_balances", "--dry-run")
    assert Account.objects.get(pk=wallet.pk).balance == 90
    call_command("ledger_rebuild_balances")
    assert Account.objects.get(pk=wallet.pk).balance == 100
    call_command("ledger_check")


def test_hourly_check_task_logs_errors(alice, caplog):
    from ledger.tasks import check_ledger

    fund(alice, 100)
    assert check_ledger() == 0
    Account.objects.filter(user=alice, kind=AccountKind.WALLET).update(balance=1)
    assert check_ledger() >= 1
    assert any(r.levelname == "ERROR" and "ledger check failed" in r.getMessage() for r in caplog.records)


def test_demo_seed_grants_the_fan_tokens_once(alice, bob):
    from ledger import demo

    demo.seed({"fan": alice, "creators": [bob]})
    demo.seed({"fan": alice, "creators": [bob]})
    assert services.balance_of(user=alice) == demo.DEMO_FAN_TOKENS


@override_settings(ACCOUNTS_ADMIN_REQUIRES_OTP=False)  # accounts' TOTP guard is tested by accounts
def test_admin_is_read_only_and_adjust_needs_admin(client, alice):
    from accounts.models import AuditEntry
    from accounts.tests.factories import make_user

    fund(alice, 10)
    wallet = Account.objects.get(user=alice, kind=AccountKind.WALLET)
    staff = make_user("staffer", is_staff=True, role="moderator")
    root = make_user("root", is_staff=True, is_superuser=True, role="admin")

    client.force_login(staff)
    response = client.post(f"/admin/ledger/account/{wallet.pk}/adjust/", {"amount": 5, "reason": "x", "idempotency_key": "a"})
    assert response.status_code in (302, 403)
    assert services.balance_of(user=alice) == 10

    client.force_login(root)
    response = client.post(f"/admin/ledger/account/{wallet.pk}/adjust/", {"amount": 5, "reason": "", "idempotency_key": "a"})
    assert response.status_code == 200  # form re-rendered: reason required
    assert services.balance_of(user=alice) == 10
    response = client.post(f"/admin/ledger/account/{wallet.pk}/adjust/", {"amount": 5, "reason": "goodwill", "idempotency_key": "a"})
    assert response.status_code == 302
    assert services.balance_of(user=alice) == 15
    assert AuditEntry.objects.filter(action="ledger.adjust", actor=root).count() == 1
    # no change or delete through the admin
    assert client.post(f"/admin/ledger/entry/1/delete/").status_code in (403, 302, 404)


@override_settings(ACCOUNTS_ADMIN_REQUIRES_OTP=False)
def test_admin_reverse_view_reverses_once_with_reason(client, alice, mallory):
    from accounts.tests.factories import make_user

    fund(alice, 50)
    tx = services.transfer(source=alice, destination=mallory, amount=20, kind="transfer", idempotency_key="t")
    client.force_login(make_user("root", is_staff=True, is_superuser=True, role="admin"))
    form = {"reason": "wrong recipient", "idempotency_key": f"admin-reverse:{tx.pk}"}
    assert client.post(f"/admin/ledger/transaction/{tx.pk}/reverse/", form).status_code == 302
    assert client.post(f"/admin/ledger/transaction/{tx.pk}/reverse/", form).status_code == 302  # double submit
    assert services.balance_of(user=alice) == 50 and services.balance_of(user=mallory) == 0
    assert client.get(f"/admin/ledger/transaction/{tx.pk}/change/").status_code == 200
