from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("staff/", views.console_home, name="console"),
    path("staff/analytics/<slug:chart>.csv", views.chart_csv, name="csv"),
]
