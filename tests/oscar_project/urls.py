"""The shop's URLs: Oscar's, and the app's Segment endpoint for analytics.js."""

from django.apps import apps
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("seg/", include("integrations.urls")),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
