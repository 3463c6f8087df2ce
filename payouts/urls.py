from django.urls import path

from payouts import views

app_name = "payouts"
urlpatterns = [
    path("earnings/", views.earnings, name="earnings"),
    path("earnings/request/", views.request_payout, name="request"),
    path("earnings/account/", views.set_up_account, name="account"),
    path("earnings/schedule/", views.set_schedule, name="schedule"),
    path("earnings/connect/return/", views.connect_return, name="connect-return"),
    path("earnings/connect/refresh/", views.connect_refresh, name="connect-refresh"),
    path("earnings/payouts/<uuid:payout_id>/", views.payout_detail, name="payout"),
]
