"""Wallet read API. Every view shows the caller's own ledger only."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from digis.params import parse_int
from ledger import selectors


class WalletSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Spendable tokens.")
    debt = serializers.IntegerField(help_text="Tokens owed after a refund/chargeback; spending is frozen while > 0.")
    frozen = serializers.BooleanField()
    earnings_available = serializers.IntegerField(required=False, help_text="Creators: released earnings in the wallet.")
    earnings_pending = serializers.IntegerField(required=False, help_text="Creators: earnings not yet released.")


class EntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction_id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    account = serializers.CharField(help_text="wallet, earnings or receivable")
    amount = serializers.IntegerField(help_text="Signed tokens: + in, - out.")
    balance_after = serializers.IntegerField(allow_null=True)
    counterparty = serializers.CharField()
    reference = serializers.CharField()
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()


class EntryPageSerializer(serializers.Serializer):
    results = EntrySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


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
            OpenApiParameter("cursor", OpenApiTypes.INT, description="next_cursor from the previous page"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 25"),
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
