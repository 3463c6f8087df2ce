from django.urls import path

from payouts import api

urlpatterns = [
    path("payouts/", api.PayoutListView.as_view(), name="payouts-list"),
    path("payouts/earnings/", api.EarningsView.as_view(), name="payouts-earnings"),
    path("payouts/account/", api.PayoutAccountView.as_view(), name="payouts-account"),
    path("payouts/<uuid:payout_id>/", api.PayoutDetailView.as_view(), name="payouts-detail"),
    path("payouts/<uuid:payout_id>/statement.csv", api.PayoutStatementCSVView.as_view(), name="payouts-statement-csv"),
]
