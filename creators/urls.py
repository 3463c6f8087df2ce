from django.urls import path, re_path

from creators import views

app_name = "creators"
# Usernames are Django's: letters, digits and @.+-_ .
USERNAME = r"(?P<username>[\w.@+-]{1,150})"

urlpatterns = [
    path("explore/", views.explore, name="explore"),
    path("explore/tag/<slug:slug>/", views.explore, name="explore-tag"),
    path("settings/creator/", views.studio, name="studio"),
    re_path(rf"^@{USERNAME}/follow/$", views.follow, name="follow"),
    re_path(rf"^@{USERNAME}/?$", views.profile, name="profile"),
]
