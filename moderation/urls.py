from django.urls import path

from moderation import views

app_name = "moderation"
urlpatterns = [
    path("reports/", views.my_reports, name="mine"),
    path("reports/new/", views.new_report, name="new"),
    path("staff/moderation/", views.queue, name="queue"),
    path("staff/moderation/reports/<uuid:report_id>/", views.report_page, name="report"),
    path("staff/moderation/reports/<uuid:report_id>/assign/", views.assign, name="assign"),
    path("staff/moderation/reports/<uuid:report_id>/act/", views.act, name="act"),
]
