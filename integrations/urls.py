"""Routes for Segment's HTTP Tracking API; include under a prefix such as ``seg/``."""

from django.urls import re_path

from .views import track_api

app_name = "integrations"

urlpatterns = [
    re_path(
        r"^v1/(?P<call>identify|track|page|alias|batch|i|t|p|a|b)/?$",
        track_api,
        name="track-api",
    ),
]
