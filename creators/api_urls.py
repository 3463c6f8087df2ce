from django.urls import path

from creators import api

urlpatterns = [
    path("categories/", api.CategoryListView.as_view(), name="api-categories"),
    path("creators/", api.CreatorListView.as_view(), name="api-creators"),
    # "me" comes before <username>, so a creator named "me" is only reachable by page.
    path("creators/me/", api.CreatorMeView.as_view(), name="api-creator-me"),
    path("creators/<str:username>/", api.CreatorDetailView.as_view(), name="api-creator"),
    path("creators/<str:username>/follow/", api.FollowView.as_view(), name="api-creator-follow"),
]
