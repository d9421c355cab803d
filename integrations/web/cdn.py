"""What Segment's CDN and API serve analytics.js besides the events, served by the shop.

With its CDN pointed at the mount (``analytics._cdn`` in the snippet, ``cdnURL``
in the npm build), analytics.js asks, under the mount:

- ``GET /analytics.js/v1/<writeKey>/analytics.min.js``: itself (the snippet's
  script tag), then ``GET /analytics-next/bundles/<chunk>.js`` for the parts it
  loads lazily (its webpack public path is the CDN + ``/analytics-next/bundles/``);
- ``GET /v1/projects/<writeKey>/settings``: its source's settings (``CDNSettings``
  in analytics-next's ``browser/settings.ts``);
- ``POST /v1/m``: its own metrics, which the settings turn off; still answered.

Only browser keys (SEG_BROWSER_WRITE_KEYS) are known here. A server key gets the
same 404 as an unknown one: it never belongs in a page, and the endpoint must not
tell anyone whether a guessed secret is a key.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition

from .. import conf
from .auth import is_browser_key
from .cors import cors
from .mounting import mount

CHUNK_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.js(?:\.map)?$")
JAVASCRIPT = "text/javascript; charset=utf-8"
# The bundle's URL names no version, so browsers check back hourly; chunks
# carry a content hash in their names and never change.
BUNDLE_MAX_AGE = 3600
CHUNK_MAX_AGE = 365 * 24 * 3600
SETTINGS_MAX_AGE = 60


def _not_found(message: str) -> JsonResponse:
    return JsonResponse({"success": False, "code": "not_found", "message": message}, status=404)


UNKNOWN_KEY = "No browser source has this write key (SEG_BROWSER_WRITE_KEYS)."
NOT_CONFIGURED = (
    "analytics.js is not configured: set SEG_ANALYTICS_JS_PATH to the file that npm "
    "installed (node_modules/@segment/analytics-next/dist/umd/standalone.js), or "
    "SEG_ANALYTICS_JS_URL to where the shop serves it."
)


def cdn_settings(request: HttpRequest, write_key: str) -> dict[str, Any]:
    """The settings analytics.js reads for ``write_key`` (its ``CDNSettings``).

    ``integrations["Segment.io"]`` sends every event to this mount:
    ``apiKey`` becomes each event's writeKey, ``apiHost`` is host + mount +
    ``/v1`` with no scheme, ``protocol`` http or https. ``metrics.sampleRate``
    0 keeps analytics.js from sending its own metrics. No other destination,
    middleware or remote plugin, so nothing else is loaded. With
    SEG_CONSENT_CATEGORIES, ``consentSettings.allCategories`` lists them.
    """
    here = mount(request)
    settings: dict[str, Any] = {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": here.api_host,
                "protocol": here.scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {},
        "enabledMiddleware": {},
        "middlewareSettings": {},
        "metrics": {"sampleRate": 0, "host": here.api_host},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }
    if categories := conf.consent_categories():
        # Segment Consent Management: analytics.js's consent wrappers read it, and
        # stamp each event's context.consent.categoryPreferences.
        settings["consentSettings"] = {
            "allCategories": list(categories),
            "hasUnmappedDestinations": False,
        }
    return settings


@csrf_exempt
@cors("GET")
def project_settings(request: HttpRequest, write_key: str) -> HttpResponse:
    """GET /v1/projects/<writeKey>/settings: the source's settings; 404 for an unknown key."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, OPTIONS"})
    if not is_browser_key(write_key):
        return _not_found(UNKNOWN_KEY)
    response = JsonResponse(cdn_settings(request, write_key))
    patch_cache_control(response, public=True, max_age=SETTINGS_MAX_AGE)
    return response


def bundle_file() -> Path | None:
    """SEG_ANALYTICS_JS_PATH as a path, when it names a file."""
    value = conf.get_setting("SEG_ANALYTICS_JS_PATH")
    path = Path(value) if value else None
    return path if path is not None and path.is_file() else None


def _modified(request: HttpRequest, *args: Any, **kwargs: Any) -> datetime | None:
    path = bundle_file()
    name = kwargs.get("name")
    if name is not None and not CHUNK_NAME.match(name):
        return None  # no such file: the view answers 404
    if path is not None and name:
        path = path.parent / name
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) if path else None
    except (OSError, ValueError):  # ValueError: a name the OS cannot hold (a NUL)
        return None


@cors("GET")
@condition(last_modified_func=_modified)
def bundle(request: HttpRequest, write_key: str) -> HttpResponseBase:
    """GET /analytics.js/v1/<writeKey>/analytics.min.js: analytics.js itself.

    The file at SEG_ANALYTICS_JS_PATH (gzipped when its ``.gz`` sits beside it
    and the browser takes gzip), else a redirect to SEG_ANALYTICS_JS_URL, else
    404 naming both settings. 404 for a key that is not a browser key.
    """
    if not is_browser_key(write_key):
        return _not_found(UNKNOWN_KEY)
    return _serve(request, None, BUNDLE_MAX_AGE)


@cors("GET")
@condition(last_modified_func=_modified)
def chunk(request: HttpRequest, name: str) -> HttpResponseBase:
    """GET /analytics-next/bundles/<name>: a part analytics.js loads lazily, from the
    bundle's own folder (or beside SEG_ANALYTICS_JS_URL)."""
    if not CHUNK_NAME.match(name):
        return _not_found("No such file.")
    return _serve(request, name, CHUNK_MAX_AGE)


def _serve(request: HttpRequest, name: str | None, max_age: int) -> HttpResponseBase:
    path = bundle_file()
    if path is None:
        url = conf.get_setting("SEG_ANALYTICS_JS_URL")
        if not url:
            return _not_found(NOT_CONFIGURED)
        target = str(url) if name is None else str(url).rsplit("/", 1)[0] + "/" + name
        return HttpResponseRedirect(target)
    if name is not None:
        path = path.parent / name
        if not path.is_file():
            return _not_found("No such file.")
    gzipped = path.with_name(path.name + ".gz")
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "") and _gzip_of(gzipped, path)
    response = FileResponse((gzipped if use_gzip else path).open("rb"), content_type=JAVASCRIPT)
    del response["Content-Disposition"]
    if use_gzip:
        response["Content-Encoding"] = "gzip"
    patch_vary_headers(response, ("Accept-Encoding",))
    patch_cache_control(response, public=True, max_age=max_age)
    if max_age == CHUNK_MAX_AGE:
        patch_cache_control(response, immutable=True)
    return response


def _gzip_of(gzipped: Path, path: Path) -> bool:
    """True when ``gzipped`` is a gzip file of ``path``'s size (its ISIZE trailer,
    RFC 1952): a ``.gz`` left from another version is not served."""
    try:
        with gzipped.open("rb") as file:
            if file.read(2) != b"\x1f\x8b":
                return False
            file.seek(-4, 2)
            size = int.from_bytes(file.read(4), "little")
        return size == path.stat().st_size % 2**32
    except OSError:
        return False


@csrf_exempt
@cors("POST")
def metrics(request: HttpRequest) -> HttpResponse:
    """POST /v1/m: analytics.js's own metrics, acknowledged and discarded."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST, OPTIONS"})
    return HttpResponse(status=204)
