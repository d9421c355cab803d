"""The shop's URLs: Oscar's, and the app's Segment endpoint for analytics.js."""

from typing import Any

from django.apps import apps
from django.urls import include, path

# Oscar is untyped: its app config holds the shop's URLs.
shop: Any = apps.get_app_config("oscar")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("seg/", include("integrations.urls")),
    path("", include(shop.urls[0])),
]
