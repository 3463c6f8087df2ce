from django.urls import path

from payments import views

app_name = "payments"
urlpatterns = [
    path("wallet/buy/", views.buy_tokens, name="buy"),
    path("wallet/purchases/<uuid:purchase_id>/", views.purchase_receipt, name="receipt"),
]
