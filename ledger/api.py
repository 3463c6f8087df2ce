"""Wallet read API. Every view shows the caller's own ledger only."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from digis import fields
from digis.params import parse_int
from ledger import selectors


class WalletSerializer(serializers.Serializer):
    balance = fields.IntegerField(help_text="Spendable tokens.")
    debt = fields.IntegerField(help_text="Tokens owed after a refund/chargeback; spending is frozen while > 0.")
    frozen = fields.BooleanField()
    earnings_available = fields.IntegerField(required=False, help_text="Creators: released earnings in the wallet.")
    earnings_pending = fields.IntegerField(required=False, help_text="Creators: earnings not yet released.")


class EntrySerializer(serializers.Serializer):
    id = fields.IntegerField()
    transaction_id = fields.IntegerField()
    kind = fields.CharField()
    kind_label = fields.CharField()
    account = fields.CharField(help_text="wallet, earnings or receivable")
    amount = fields.IntegerField(help_text="Signed tokens: + in, - out.")
    balance_after = fields.IntegerField(allow_null=True)
    counterparty = fields.CharField()
    reference = fields.CharField()
    memo = fields.CharField()
    created_at = serializers.DateTimeField()


class EntryPageSerializer(serializers.Serializer):
    results = EntrySerializer(many=True)
    next_cursor = fields.CharField(allow_null=True)


class WalletView(APIView):
    """GET /api/wallet/: the caller's balance (creators also see earnings available and pending)."""

    @extend_schema(responses=WalletSerializer)
    def get(self, request):
        return Response(WalletSerializer(selectors.wallet_summary(user=request.user)).data)


class WalletTransactionsView(APIView):
    """GET /api/wallet/transactions/?cursor=&limit=: the caller's entries, newest first (keyset cursor)."""

    @extend_schema(
        responses=EntryPageSerializer,
        parameters=[
            OpenApiParameter("cursor", {"type": "integer", "minimum": 1}, description="next_cursor from the previous page"),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 100}, description="Default 25"),
        ],
    )
    def get(self, request):
        before = request.query_params.get("cursor")
        before_id = parse_int(before, name="cursor", default=0, minimum=1) if before not in (None, "") else None
        limit = parse_int(request.query_params.get("limit"), name="limit", default=25, minimum=1, maximum=100)
        items, next_cursor = selectors.history(user=request.user, before_id=before_id, limit=limit)
        return Response(
            EntryPageSerializer({"results": items, "next_cursor": str(next_cursor) if next_cursor else None}).data
        )
