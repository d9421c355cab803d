"""URLs: the admin, and Segment's HTTP API under /seg/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("seg/", include("integrations.urls")),
]
