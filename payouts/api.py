"""Payouts API: a creator's earnings, payouts, statements and payout account.

Everything here is the caller's own; fans and other creators get 404
(``not_a_creator``, ``payout_not_found``), never someone else's data.
"""

import csv
import io

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from digis.pagination import StrictCursorPagination
from payouts import selectors, services
from payouts.exceptions import NotACreator, PayoutNotFound
from payouts.models import BankScheme, Payout, PayoutAccount, PayoutItem, PayoutMethod, PayoutSchedule


def _error(name: str):
    """The one error body (digis.api), described for the schema."""
    return inline_serializer(
        name=name,
        fields={
            "error": inline_serializer(
                name=f"{name}Body",
                fields={
                    "code": serializers.CharField(),
                    "message": serializers.CharField(),
                    "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
                    "request_id": serializers.CharField(),
                },
            )
        },
    )


ERROR = _error("PayoutError")
NOT_FOUND = OpenApiResponse(ERROR, description="Not a creator (`not_a_creator`), or not your payout (`payout_not_found`).")
REFUSED = OpenApiResponse(ERROR, description="Refused, with a stable code (see docs/payouts.md).")


def _creator(request):
    if not selectors.is_creator(request.user):
        raise NotACreator()
    return request.user


class PayoutItemSerializer(serializers.ModelSerializer):
    earning = serializers.IntegerField(source="earning_id", help_text="The ledger transaction that earned it.")
    kind_label = serializers.CharField(source="get_kind_display")

    class Meta:
        model = PayoutItem
        fields = ["earning", "kind", "kind_label", "earned_at", "gross", "fee", "net", "tokens"]


class PayoutSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    amount_display = serializers.CharField()
    statement_csv = serializers.SerializerMethodField()

    class Meta:
        model = Payout
        fields = [
            "id", "status", "status_label", "method", "trigger", "tokens", "cents_per_token", "amount_cents", "currency",
            "amount_display", "destination", "needs_review", "review_reason", "failure_code", "failure_message",
            "held_reason", "requested_at", "approved_at", "sent_at", "paid_at", "finished_at", "statement_csv",
        ]

    def get_statement_csv(self, payout) -> str:
        return reverse("payouts-statement-csv", args=[payout.pk])


class PayoutDetailSerializer(PayoutSerializer):
    statement = PayoutItemSerializer(source="items", many=True, read_only=True)

    class Meta(PayoutSerializer.Meta):
        fields = [*PayoutSerializer.Meta.fields, "statement"]


class RequestPayoutSerializer(serializers.Serializer):
    tokens = serializers.IntegerField(
        required=False, min_value=1, max_value=10**12, help_text="How many tokens; leave out for everything payable now."
    )


class PayoutPagination(StrictCursorPagination):
    page_size = 20
    max_page_size = 100
    ordering = ("-requested_at", "-id")


class CreatorAPIView(APIView):
    # JSON bodies only: the pages post forms to their own views, and a form
    # body would let an empty field stand for "not sent" (DRF's HTML-input rule).
    parser_classes = [JSONParser]


class PayoutListView(CreatorAPIView):
    """GET: your payouts, newest first (cursor pages). POST: ask for a payout."""

    pagination_class = PayoutPagination  # read by the schema; get() paginates with it

    @extend_schema(
        operation_id="payouts_list",
        responses={
            200: PayoutSerializer(many=True),
            400: OpenApiResponse(ERROR, description="A page_size that is not a whole number from 1 to 100."),
            404: OpenApiResponse(ERROR, description="Not a creator (`not_a_creator`), or a cursor we did not make (`not_found`)."),
        },
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.payouts_of(_creator(request)), request, view=self)
        return paginator.get_paginated_response(PayoutSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payouts_request",
        request=RequestPayoutSerializer,
        responses={201: PayoutDetailSerializer, 400: REFUSED, 403: REFUSED, 404: NOT_FOUND, 409: REFUSED},
    )
    def post(self, request):
        user = _creator(request)
        data = RequestPayoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payout = services.request_payout(user=user, tokens=data.validated_data.get("tokens"))
        return Response(PayoutDetailSerializer(payout).data, status=status.HTTP_201_CREATED)


def _own_payout(request, payout_id) -> Payout:
    payout = selectors.payout_of(_creator(request), payout_id)
    if payout is None:
        raise PayoutNotFound()
    return payout


class PayoutDetailView(CreatorAPIView):
    @extend_schema(operation_id="payouts_retrieve", responses={200: PayoutDetailSerializer, 404: NOT_FOUND})
    def get(self, request, payout_id):
        return Response(PayoutDetailSerializer(_own_payout(request, payout_id)).data)


STATEMENT_COLUMNS = ["earned_at", "kind", "earning", "reference", "gross_tokens", "fee_tokens", "net_tokens", "tokens_in_payout", "amount"]


def statement_csv(payout: Payout) -> str:
    """The statement as CSV: one line per earning, then the total line, which equals the payout."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(STATEMENT_COLUMNS)
    references = selectors.statement_references(payout)
    rate = payout.cents_per_token
    for item in selectors.statement(payout):
        cents = item.tokens * rate
        writer.writerow([
            item.earned_at.isoformat(), item.kind, item.earning_id, _csv_safe(references.get(item.earning_id, "")),
            item.gross, item.fee, item.net, item.tokens, f"{cents // 100}.{cents % 100:02d}",
        ])
    writer.writerow([
        "", "total", "", f"payout {payout.pk}", "", "", "", payout.tokens,
        f"{payout.amount_cents // 100}.{payout.amount_cents % 100:02d} {payout.currency.upper()}",
    ])
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    # A cell a spreadsheet would run as a formula is quoted as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Successful responses are written by the view; this renders errors
        # for a client that accepts only CSV.
        if isinstance(data, (bytes, str)):
            return data
        error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
        return f"error,message\r\n{error.get('code', '')},{error.get('message', '')}\r\n"


class PayoutStatementCSVView(CreatorAPIView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="payouts_statement_csv",
        # DRF's ?format= override exists because errors can be rendered as CSV
        # too; the statement itself is always CSV, so the schema leaves it out.
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The statement: a header line (" + ", ".join(STATEMENT_COLUMNS) + "), one line per earning, "
                "then a total line equal to the payout.",
            ),
            (404, "application/json"): NOT_FOUND,
        },
    )
    def get(self, request, payout_id):
        payout = _own_payout(request, payout_id)
        response = HttpResponse(statement_csv(payout), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="digis-payout-{payout.requested_at:%Y-%m-%d}-{str(payout.pk)[:8]}.csv"'
        return response


# --- earnings summary --------------------------------------------------------------------------


class PendingDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    payable_at = serializers.DateTimeField()
    tokens = serializers.IntegerField()
    earnings = serializers.IntegerField()
    withheld = serializers.IntegerField(help_text="Of these, held back for a fan's refund or dispute.")


class EarningsSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Tokens in your wallet.")
    payable = serializers.IntegerField(help_text="Tokens you can be paid out now.")
    payable_cents = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Earnings still in their hold.")
    pending_by_day = PendingDaySerializer(many=True)
    withheld = serializers.IntegerField(help_text="Earnings held back for fans' refunds or disputes.")
    in_transit = serializers.IntegerField(help_text="Tokens in payouts requested and not yet paid.")
    paid = serializers.IntegerField(help_text="Tokens paid out so far.")
    paid_cents = serializers.IntegerField()
    currency = serializers.CharField()
    can_request = serializers.BooleanField()
    cannot_request_because = serializers.CharField(allow_blank=True)
    next_weekly_payout = serializers.DateField(allow_null=True)
    rules = inline_serializer(
        name="PayoutRules",
        fields={
            "cents_per_token": serializers.IntegerField(),
            "currency": serializers.CharField(),
            "hold_days": serializers.IntegerField(),
            "minimum_tokens": serializers.IntegerField(),
            "review_above_tokens": serializers.IntegerField(),
            "weekly_day": serializers.CharField(),
            "methods": serializers.ListField(child=serializers.CharField()),
            "in_words": serializers.ListField(child=serializers.CharField()),
        },
    )


def earnings_summary(user) -> dict:
    """What the earnings page and GET /api/payouts/earnings/ show."""
    from django.conf import settings

    position = selectors.creator_position(user=user)
    totals = selectors.totals(user=user)
    account = selectors.payout_account_of(user)
    reason = services.why_cannot_request(user=user, position=position, account=account)
    weekly = account is not None and account.schedule == PayoutSchedule.WEEKLY and account.ready
    return {
        "balance": position.balance,
        "payable": position.payable,
        "payable_cents": position.payable * settings.PAYOUT_CENTS_PER_TOKEN,
        "pending": position.pending,
        "pending_by_day": selectors.pending_by_day(position),
        "withheld": position.withheld,
        "in_transit": totals["in_transit"],
        "paid": totals["paid"],
        "paid_cents": totals["paid_cents"],
        "currency": settings.PAYOUT_CURRENCY,
        "can_request": not reason,
        "cannot_request_because": reason,
        "next_weekly_payout": selectors.next_weekly_run() if weekly else None,
        "rules": selectors.rules(),
    }


class EarningsView(CreatorAPIView):
    @extend_schema(operation_id="payouts_earnings", responses={200: EarningsSerializer, 404: NOT_FOUND})
    def get(self, request):
        return Response(EarningsSerializer(earnings_summary(_creator(request))).data)


# --- payout account --------------------------------------------------------------------------------


class PayoutAccountSerializer(serializers.ModelSerializer):
    ready = serializers.BooleanField()
    destination = serializers.CharField(source="destination_label")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="null until an account is set up")

    class Meta:
        model = PayoutAccount
        fields = [
            "method", "schedule", "ready", "destination", "stripe_account_id", "stripe_details_submitted",
            "stripe_payouts_enabled", "stripe_requirements_due", "stripe_disabled_reason", "stripe_bank_last4",
            "bank_scheme", "bank_country", "bank_holder", "bank_masked", "updated_at",
        ]


class AccountSetupSerializer(serializers.Serializer):
    """What the endpoint parses; the schema shows its two shapes (below)."""

    method = serializers.ChoiceField(choices=PayoutMethod.choices)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, help_text="Stripe: the country of your bank (default US).")
    scheme = serializers.ChoiceField(choices=BankScheme.choices, required=False, help_text="Manual: the kind of bank details.")
    holder = serializers.CharField(required=False, max_length=140)
    iban = serializers.CharField(required=False, max_length=64)
    routing_number = serializers.CharField(required=False, max_length=32)
    account_number = serializers.CharField(required=False, max_length=32)
    sort_code = serializers.CharField(required=False, max_length=16)


class StripeSetupSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=[PayoutMethod.STRIPE.value])
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, help_text="The country of your bank (default US).")


class BankSetupSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=[PayoutMethod.MANUAL.value])
    scheme = serializers.ChoiceField(choices=BankScheme.choices)
    holder = serializers.CharField(max_length=140, help_text="The account holder's name as the bank knows it.")
    iban = serializers.CharField(required=False, max_length=64, help_text="scheme iban: the IBAN (checked, then masked).")
    routing_number = serializers.CharField(required=False, max_length=32, help_text="scheme us_aba: the ABA routing number.")
    account_number = serializers.CharField(required=False, max_length=32, help_text="schemes us_aba and uk_sort_code.")
    sort_code = serializers.CharField(required=False, max_length=16, help_text="scheme uk_sort_code: the sort code.")


ACCOUNT_SETUP = PolymorphicProxySerializer(
    component_name="PayoutAccountSetup",
    serializers={"stripe": StripeSetupSerializer, "manual": BankSetupSerializer},
    resource_type_field_name="method",
)


class AccountSetupResultSerializer(serializers.Serializer):
    account = PayoutAccountSerializer()
    url = serializers.URLField(allow_null=True, help_text="Stripe: open this onboarding link now (it expires in minutes).")


class ScheduleSerializer(serializers.Serializer):
    schedule = serializers.ChoiceField(choices=PayoutSchedule.choices, required=False, help_text="Left out: unchanged.")


def onboarding_urls(request) -> tuple[str, str]:
    return (
        request.build_absolute_uri(reverse("payouts:connect-return")),
        request.build_absolute_uri(reverse("payouts:connect-refresh")),
    )


def set_up_account(request, data: dict) -> tuple[PayoutAccount, str | None]:
    """Shared by the API and the earnings page's forms."""
    user = request.user
    if data["method"] == PayoutMethod.STRIPE:
        return_url, refresh_url = onboarding_urls(request)
        account, url = services.start_stripe_onboarding(
            user=user, country=data.get("country") or "US", return_url=return_url, refresh_url=refresh_url
        )
        return account, url
    account = services.set_bank_account(
        user=user, scheme=data.get("scheme") or "", holder=data.get("holder") or "", iban=data.get("iban") or "",
        routing_number=data.get("routing_number") or "", account_number=data.get("account_number") or "",
        sort_code=data.get("sort_code") or "",
    )
    return account, None


class PayoutAccountView(CreatorAPIView):
    """GET: where your payouts go. POST: set it up (Stripe onboarding link, or bank details
    kept masked). PATCH: your schedule."""

    @extend_schema(operation_id="payouts_account_retrieve", responses={200: PayoutAccountSerializer, 404: NOT_FOUND})
    def get(self, request):
        user = _creator(request)
        account = selectors.payout_account_of(user) or PayoutAccount(user=user)
        return Response(PayoutAccountSerializer(account).data)

    @extend_schema(
        operation_id="payouts_account_setup",
        request=ACCOUNT_SETUP,
        responses={200: AccountSetupResultSerializer, 400: REFUSED, 404: NOT_FOUND, 409: REFUSED, 502: REFUSED},
    )
    def post(self, request):
        _creator(request)
        data = AccountSetupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account, url = set_up_account(request, data.validated_data)
        return Response(AccountSetupResultSerializer({"account": account, "url": url}).data)

    @extend_schema(
        operation_id="payouts_account_schedule", request=ScheduleSerializer,
        responses={200: PayoutAccountSerializer, 400: REFUSED, 404: NOT_FOUND},
    )
    def patch(self, request):
        user = _creator(request)
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "schedule" in data.validated_data:
            account = services.set_schedule(user=user, schedule=data.validated_data["schedule"])
        else:
            account = selectors.payout_account_of(user) or PayoutAccount(user=user)
        return Response(PayoutAccountSerializer(account).data)
