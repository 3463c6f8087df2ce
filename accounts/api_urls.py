from django.urls import path

from accounts import api

urlpatterns = [
    path("users/<uuid:id>/", api.PublicUserView.as_view(), name="api-user"),
]
