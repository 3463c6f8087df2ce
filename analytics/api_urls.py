from django.urls import path

from analytics import api

urlpatterns = [
    path("staff/analytics/", api.DashboardView.as_view(), name="analytics-api-dashboard"),
    path("staff/analytics/now/", api.RightNowView.as_view(), name="analytics-api-now"),
]
