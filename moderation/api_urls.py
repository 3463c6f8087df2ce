from django.urls import path

from moderation import api

urlpatterns = [
    path("reports/", api.ReportListView.as_view(), name="moderation-api-reports"),
    path("staff/reports/", api.StaffReportListView.as_view(), name="moderation-api-queue"),
    path("staff/reports/<uuid:id>/", api.StaffReportDetailView.as_view(), name="moderation-api-report"),
    path("staff/reports/<uuid:id>/assign/", api.StaffReportAssignView.as_view(), name="moderation-api-assign"),
    path("staff/reports/<uuid:id>/actions/", api.StaffReportActionView.as_view(), name="moderation-api-act"),
]
