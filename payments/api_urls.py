from django.urls import path

from payments import api

urlpatterns = [
    path("payments/packages/", api.PackageListView.as_view(), name="payments-packages"),
    path("payments/purchases/", api.PurchaseListView.as_view(), name="payments-purchases"),
    path("payments/purchases/<uuid:purchase_id>/", api.PurchaseDetailView.as_view(), name="payments-purchase"),
    path("payments/purchases/<uuid:purchase_id>/confirm/", api.PurchaseConfirmView.as_view(), name="payments-purchase-confirm"),
    path("payments/stripe/webhook/", api.stripe_webhook, name="payments-stripe-webhook"),
]
