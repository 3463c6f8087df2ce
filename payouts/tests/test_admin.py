"""The admin's payout queues and audited decisions."""

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings

from accounts.models import AuditEntry
from accounts.tests.factories import make_user
from ledger import services as ledger
from payouts import services
from payouts.models import Payout, PayoutStatus
from payouts.tests.factories import buy_tokens, earn, manual_account

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_otp")]


@pytest.fixture
def no_otp():
    with override_settings(ACCOUNTS_ADMIN_REQUIRES_OTP=False):  # accounts tests its TOTP guard
        yield


@pytest.fixture
def payout(alice, bob, settings):
    settings.PAYOUT_HOLD_DAYS = 0
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    manual_account(bob)
    return services.request_payout(user=bob)


@pytest.fixture
def reviewer(db):
    user = make_user("rita", is_staff=True, role="moderator")
    user.user_permissions.add(Permission.objects.get(codename="review_payout"))
    return user


def test_the_review_queue_lists_payouts_waiting_and_a_reviewer_approves_with_an_audit_row(client, payout, reviewer):
    client.force_login(reviewer)
    queue = client.get("/admin/payouts/reviewqueue/")
    assert queue.status_code == 200 and "first payout" in queue.content.decode()

    page = client.get(f"/admin/payouts/payout/{payout.pk}/decide/")
    assert page.status_code == 200 and "Statement" in page.content.decode()
    response = client.post(f"/admin/payouts/payout/{payout.pk}/decide/", {"action": "approve", "text": "ID verified"})
    assert response.status_code == 302

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED and payout.reviewed_by == reviewer
    audit = AuditEntry.objects.get(action="payout.approve")
    assert audit.actor == reviewer and audit.reason == "ID verified" and audit.before["status"] == "requested"
    assert "approved" == audit.after["status"]


def test_a_rejection_needs_a_reason_and_returns_the_tokens(client, payout, reviewer, bob):
    client.force_login(reviewer)
    response = client.post(f"/admin/payouts/payout/{payout.pk}/decide/", {"action": "reject", "text": ""})
    assert response.status_code == 200 and "Required for this decision" in response.content.decode()
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.REQUESTED

    client.post(f"/admin/payouts/payout/{payout.pk}/decide/", {"action": "reject", "text": "Name does not match the bank account."})
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.REJECTED
    assert ledger.balance_of(user=bob) == 800
    assert AuditEntry.objects.filter(action="payout.reject", actor=reviewer).count() == 1


def test_the_bank_transfer_queue_and_marking_paid(client, payout, reviewer):
    services.approve_payout(payout_id=payout.pk, actor=reviewer)
    client.force_login(reviewer)
    assert str(payout.creator) in client.get("/admin/payouts/banktransferqueue/").content.decode()
    client.post(f"/admin/payouts/payout/{payout.pk}/decide/", {"action": "mark_sent", "text": "SEPA 2026-03-09 #41"})
    client.post(f"/admin/payouts/payout/{payout.pk}/decide/", {"action": "mark_paid", "text": ""})
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID and payout.manual_reference == "SEPA 2026-03-09 #41"
    assert list(AuditEntry.objects.filter(target_id=str(payout.pk)).order_by("id").values_list("action", flat=True)) == [
        "payout.approve", "payout.mark_sent", "payout.mark_paid",
    ]


def test_staff_without_the_permission_may_look_but_not_decide(client, payout):
    client.force_login(make_user("sam", is_staff=True, role="moderator"))
    assert client.get(f"/admin/payouts/payout/{payout.pk}/change/").status_code == 200
    assert client.post(f"/admin/payouts/payout/{payout.pk}/decide/", {"action": "approve", "text": "x"}).status_code == 403
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.REQUESTED
    client.force_login(make_user("fan", is_staff=False))
    assert client.get("/admin/payouts/reviewqueue/").status_code == 302  # to the admin sign-in


def test_the_admin_cannot_edit_a_payout(client, payout):
    client.force_login(make_user("root", is_staff=True, is_superuser=True, role="admin"))
    client.post(f"/admin/payouts/payout/{payout.pk}/change/", {"status": "paid", "tokens": 1})
    assert client.post(f"/admin/payouts/payout/{payout.pk}/delete/", {"post": "yes"}).status_code == 403
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REQUESTED and payout.tokens == 800
