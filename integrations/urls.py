"""Routes for Segment's HTTP Tracking API and what analytics.js asks its CDN for;
include under a prefix such as ``seg/``."""

from django.urls import path, re_path

from . import web
from .web import not_found, track_api

app_name = "integrations"

urlpatterns = [
    re_path(
        r"^v1/(?P<call>identify|track|page|alias|batch|import|i|t|p|a|b)/?$",
        track_api,
        name="track-api",
    ),
    path("v1/m", web.metrics, name="metrics"),
    path("v1/projects/<str:write_key>/settings", web.project_settings, name="cdn-settings"),
    path(
        "analytics.js/v1/<str:write_key>/analytics.min.js",
        web.bundle,
        name="analytics-js",
    ),
    path("analytics-next/bundles/<str:name>", web.chunk, name="analytics-js-chunk"),
    # Every other path under the mount: a JSON 404 a client can read, never
    # the site's HTML page.
    re_path(r"^.*$", not_found, name="not-found"),
]
