from django.urls import path

from calls import views

app_name = "calls"
urlpatterns = [
    path("calls/new/", views.new_call, name="new"),
    path("calls/<uuid:call_id>/", views.call_page, name="call"),
    path("calls/<uuid:call_id>/<slug:action>/", views.call_action, name="action"),
]
