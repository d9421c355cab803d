"""URLs: the admin, Segment's HTTP API under /seg/, /metrics, /healthz and /readyz, the
site's icon, and the demo storefront."""

from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on any page that names no icon."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("seg/", include("integrations.urls")),
    path("", include("integrations.probes")),
    path("favicon.ico", favicon),
    path("", include("segproject.storefront.urls")),
]
# With DEBUG, as scripts/run.sh runs it: the static files, under gunicorn too (none without).
urlpatterns += staticfiles_urlpatterns()
