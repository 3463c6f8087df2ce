from django.urls import path

from ledger import api

urlpatterns = [
    path("wallet/", api.WalletView.as_view(), name="ledger-wallet"),
    path("wallet/transactions/", api.WalletTransactionsView.as_view(), name="ledger-wallet-transactions"),
]
