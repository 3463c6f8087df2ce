"""Calls in the admin: moderators end a live call, admins refund a settled one; both
go through calls.services, write an audit row, and keep the ledger balanced."""

import re

import pytest

from accounts.models import AuditEntry, Role
from accounts.tests.factories import make_user
from calls import services
from calls.models import CallSession
from calls.tests.conftest import balance
from calls.tests.test_services import connected_call, talk
from digis.errors import DomainError
from ledger.checks import run_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(db):
    return make_user("morgan", role=Role.MODERATOR, is_staff=True)


@pytest.fixture
def admin_user(db):
    return make_user("ada", role=Role.ADMIN, is_staff=True)


@pytest.fixture
def staff_client(client, settings):
    settings.ACCOUNTS_ADMIN_REQUIRES_OTP = False

    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def test_a_moderator_ends_a_live_call_billing_what_was_talked(ready, traveller, moderator):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    talk(call, alice, bob, traveller, until=90)

    call = services.end_call_as_staff(call_id=call.pk, actor=moderator, reason="Abusive language reported")

    assert (call.status, call.end_reason, call.active_seconds) == ("ended", "ended_by_staff", 90)
    assert balance(alice) == 1000 - 15 and call.settled_at is not None
    audit = AuditEntry.objects.get(action="calls.end")
    assert (audit.actor, audit.target_id, audit.reason) == (moderator, str(call.pk), "Abusive language reported")
    assert audit.before == {"status": "active"} and audit.after["tokens_paid"] == 15
    with pytest.raises(DomainError) as again:
        services.end_call_as_staff(call_id=call.pk, actor=moderator, reason="twice")
    assert again.value.code == "invalid_call_state"
    assert AuditEntry.objects.filter(action="calls.end").count() == 1


def test_an_admin_refunds_a_settled_call_once_and_the_books_balance(ready, traveller, admin_user):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    talk(call, alice, bob, traveller, until=150)
    call = services.end_call(call_id=call.pk, user=alice)
    assert balance(alice) == 975

    call = services.refund_call_as_staff(call_id=call.pk, actor=admin_user, reason="Creator's camera never worked")

    assert balance(alice) == 1000
    stored = CallSession.objects.get(pk=call.pk)
    assert (stored.tokens_refunded, stored.creator_earnings, stored.platform_fee) == (stored.tokens_charged, 0, 0)
    assert AuditEntry.objects.get(action="calls.refund").after["tokens_paid"] == 0
    with pytest.raises(DomainError):
        services.refund_call_as_staff(call_id=call.pk, actor=admin_user, reason="again")
    assert balance(alice) == 1000
    assert not any(run_all().values())


def test_a_live_call_cannot_be_refunded_and_a_reason_is_required(ready, traveller, admin_user):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    with pytest.raises(DomainError) as live:
        services.refund_call_as_staff(call_id=call.pk, actor=admin_user, reason="too early")
    with pytest.raises(DomainError) as blank:
        services.end_call_as_staff(call_id=call.pk, actor=admin_user, reason="  ")
    assert (live.value.code, blank.value.code) == ("invalid_call_state", "reason_required")


def test_the_admin_pages_run_the_services_and_check_who_may(ready, traveller, moderator, admin_user, staff_client, mallory):
    alice, bob = ready
    call = connected_call(alice, bob, traveller)
    talk(call, alice, bob, traveller, until=30)

    as_mallory = staff_client(mallory)
    assert as_mallory.get(f"/admin/calls/callsession/{call.pk}/end/").status_code == 302  # to the sign-in page
    as_mod = staff_client(moderator)
    assert as_mod.get("/admin/calls/callsession/").status_code == 200
    page = as_mod.get(f"/admin/calls/callsession/{call.pk}/change/").content.decode()
    assert "End this call…" in page
    response = as_mod.post(f"/admin/calls/callsession/{call.pk}/end/", {"reason": "Reported"})
    assert response.status_code == 302 and CallSession.objects.get(pk=call.pk).end_reason == "ended_by_staff"
    assert as_mod.get(f"/admin/calls/callsession/{call.pk}/refund/").status_code == 403  # money: admins only

    as_admin = staff_client(admin_user)
    refunded = as_admin.post(f"/admin/calls/callsession/{call.pk}/refund/", {"reason": "Goodwill"})
    assert refunded.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", refunded.content.decode(), re.S)
    assert balance(alice) == 1000
    # The admin's read-only view: no add, change or delete of calls.
    assert as_admin.get("/admin/calls/callsession/add/").status_code == 403


def test_the_admin_index_lists_calls_and_no_djstripe_models(staff_client, admin_user):
    page = staff_client(admin_user).get("/admin/").content.decode()
    assert "/admin/calls/callsession/" in page
    assert "/admin/djstripe/" not in page
