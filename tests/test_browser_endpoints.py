"""What analytics.js needs from the mount: CORS, its settings, itself, its metrics;
and what a browser key may not do."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from integrations.models import Event

from .conftest import BROWSER_KEY, ROOT, WRITE_KEY

# A browser key's calls pass the rate limit, on Redis: each test starts with empty buckets.
pytestmark = [pytest.mark.django_db, pytest.mark.redis]

STANDALONE = ROOT / "node_modules/@segment/analytics-next/dist/umd/standalone.js"
needs_npm = pytest.mark.skipif(not STANDALONE.is_file(), reason="npm ci has not run")
ORIGIN = "https://shop.example"


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(client: Client, path: str, body: Any, key: str = BROWSER_KEY, **extra: Any) -> Any:
    extra |= auth(key)
    return client.post(f"/seg/v1/{path}", data=json.dumps(body), content_type="text/plain", **extra)


def preflight(client: Client, path: str, headers: str, origin: str = ORIGIN) -> Any:
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


TRACK = {"userId": "u1", "event": "Product Viewed", "properties": {"id": "p1"}}


# --- CORS -------------------------------------------------------------------------
def test_a_retry_of_analytics_js_passes_the_preflight(client: Client) -> None:
    # analytics.js adds X-Retry-Count to every retry; Chromium asks first.
    response = preflight(client, "/seg/v1/t", "content-type,authorization,x-retry-count")
    assert response.status_code == 204
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "x-retry-count"} <= allowed
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_a_preflight_allows_only_the_safe_headers(client: Client) -> None:
    response = preflight(client, "/seg/v1/b", "X-Retry-Count, Cookie, X-Evil")
    assert response["Access-Control-Allow-Headers"] == "X-Retry-Count"


@pytest.mark.parametrize(
    "path",
    [
        "/seg/v1/t",
        "/seg/v1/batch",
        "/seg/v1/m",
        f"/seg/v1/projects/{BROWSER_KEY}/settings",
        f"/seg/analytics.js/v1/{BROWSER_KEY}/analytics.min.js",
    ],
)
def test_every_endpoint_of_the_mount_answers_its_preflight(client: Client, path: str) -> None:
    response = preflight(client, path, "content-type")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"


def test_with_allowed_origins_credentials_work(client: Client, settings: Any) -> None:
    settings.SEG_ALLOWED_ORIGINS = [ORIGIN, "http://127.0.0.1:8000"]
    response = preflight(client, "/seg/v1/t", "content-type,x-retry-count")
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response["Vary"]
    answer = post(client, "t", TRACK | {"messageId": "m1"}, HTTP_ORIGIN=ORIGIN)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == ORIGIN
    assert answer["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in answer["Vary"]


def test_with_allowed_origins_another_origin_gets_no_cors(client: Client, settings: Any) -> None:
    settings.SEG_ALLOWED_ORIGINS = [ORIGIN]
    response = preflight(client, "/seg/v1/t", "content-type", origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response
    answer = post(client, "t", TRACK | {"messageId": "m1"}, HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in answer
    settings_answer = client.get(
        f"/seg/v1/projects/{BROWSER_KEY}/settings", HTTP_ORIGIN="https://evil.example"
    )
    assert "Access-Control-Allow-Origin" not in settings_answer


def test_without_allowed_origins_no_credentials(client: Client) -> None:
    answer = post(client, "t", TRACK | {"messageId": "m1"}, HTTP_ORIGIN=ORIGIN)
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer


# --- settings -----------------------------------------------------------------------
def test_settings_send_analytics_js_to_this_mount(client: Client) -> None:
    response = client.get(f"/seg/v1/projects/{BROWSER_KEY}/settings", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    segment_io = body["integrations"]["Segment.io"]
    # What analytics-next reads: apiKey becomes each event's writeKey; apiHost has no scheme.
    assert segment_io["apiKey"] == BROWSER_KEY
    assert segment_io["apiHost"] == "testserver/seg/v1"
    assert segment_io["protocol"] == "http"
    # Only Segment.io: more integrations would load ajs-destination from Segment's CDN.
    assert list(body["integrations"]) == ["Segment.io"]
    assert body["metrics"]["sampleRate"] == 0
    assert body["remotePlugins"] == [] and body["enabledMiddleware"] == {}


def test_settings_follow_the_request_and_the_public_origin(client: Client, settings: Any) -> None:
    url = f"/seg/v1/projects/{BROWSER_KEY}/settings"
    secure = client.get(url, secure=True).json()["integrations"]["Segment.io"]
    assert (secure["protocol"], secure["apiHost"]) == ("https", "testserver/seg/v1")
    settings.SEG_PUBLIC_ORIGIN = "https://shop.example:8443"
    public = client.get(url).json()["integrations"]["Segment.io"]
    assert (public["protocol"], public["apiHost"]) == ("https", "shop.example:8443/seg/v1")


@pytest.mark.parametrize("key", ["nope", WRITE_KEY])
def test_settings_for_an_unknown_or_server_key_are_404_with_cors(client: Client, key: str) -> None:
    response = client.get(f"/seg/v1/projects/{key}/settings", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json()["success"] is False
    assert "SEG_BROWSER_WRITE_KEYS" in response.json()["message"]


# --- metrics ------------------------------------------------------------------------
def test_metrics_are_acknowledged_with_cors(client: Client) -> None:
    body = {"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1}]}
    response = client.post(
        "/seg/v1/m", data=json.dumps(body), content_type="text/plain", HTTP_ORIGIN=ORIGIN
    )
    assert 200 <= response.status_code < 300
    assert response["Access-Control-Allow-Origin"] == "*"
    assert not Event.objects.exists()


# --- the bundle ---------------------------------------------------------------------
BUNDLE = f"/seg/analytics.js/v1/{BROWSER_KEY}/analytics.min.js"


@needs_npm
def test_the_bundle_is_analytics_js_from_npm(client: Client, settings: Any) -> None:
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    response = client.get(BUNDLE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age=3600" in response["Cache-Control"]
    assert response.getvalue() == STANDALONE.read_bytes()
    again = client.get(BUNDLE, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


@needs_npm
def test_the_bundle_goes_gzipped_to_a_browser_that_takes_gzip(
    client: Client, settings: Any
) -> None:
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    response = client.get(BUNDLE, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert response.getvalue() == Path(f"{STANDALONE}.gz").read_bytes()


@needs_npm
def test_lazy_chunks_come_from_the_bundles_folder(client: Client, settings: Any) -> None:
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    name = next(p.name for p in STANDALONE.parent.glob("*.bundle.*.js"))
    response = client.get(f"/seg/analytics-next/bundles/{name}")
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert client.get("/seg/analytics-next/bundles/..%2Fpackage.json").status_code == 404
    assert client.get("/seg/analytics-next/bundles/nothing.js").status_code == 404


def test_without_a_bundle_404_names_the_setting(client: Client, settings: Any) -> None:
    settings.SEG_ANALYTICS_JS_PATH = None
    settings.SEG_ANALYTICS_JS_URL = None
    response = client.get(BUNDLE)
    assert response.status_code == 404
    assert "SEG_ANALYTICS_JS_PATH" in response.json()["message"]
    assert "SEG_ANALYTICS_JS_URL" in response.json()["message"]


def test_a_bundle_url_is_a_redirect(client: Client, settings: Any) -> None:
    settings.SEG_ANALYTICS_JS_PATH = None
    settings.SEG_ANALYTICS_JS_URL = "https://static.shop.example/ajs/standalone.js"
    response = client.get(BUNDLE)
    assert response.status_code == 302
    assert response["Location"] == "https://static.shop.example/ajs/standalone.js"
    chunk = client.get("/seg/analytics-next/bundles/407.bundle.abc.js")
    assert chunk["Location"] == "https://static.shop.example/ajs/407.bundle.abc.js"


def test_the_bundle_for_a_server_key_is_404(client: Client, settings: Any) -> None:
    settings.SEG_ANALYTICS_JS_URL = "https://static.shop.example/ajs/standalone.js"
    assert client.get(f"/seg/analytics.js/v1/{WRITE_KEY}/analytics.min.js").status_code == 404


# --- browser keys -------------------------------------------------------------------
ALIAS = {"previousId": "ann@example.com", "userId": "thief@example.com", "messageId": "a1"}


def test_a_browser_key_sends_identify_track_and_page(client: Client) -> None:
    assert post(client, "i", {"userId": "u1", "traits": {"email": "a@b.co"}}).status_code == 200
    assert post(client, "t", TRACK).status_code == 200
    assert post(client, "p", {"userId": "u1", "name": "Home"}).status_code == 200
    assert Event.objects.count() == 3


@pytest.mark.parametrize("path", ["a", "alias"])
def test_an_alias_with_a_browser_key_is_403_and_not_stored(client: Client, path: str) -> None:
    response = post(client, path, ALIAS)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "server" in response.json()["message"]
    assert not Event.objects.exists()


def test_a_batch_with_a_browser_key_stores_all_but_its_aliases(client: Client) -> None:
    batch = [
        TRACK | {"type": "track", "messageId": "t1"},
        ALIAS | {"type": "alias"},
        {"type": "page", "userId": "u1", "messageId": "p1"},
    ]
    response = post(client, "b", {"batch": batch})
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [(e["index"], e["code"]) for e in errors] == [(1, "forbidden")]
    assert set(Event.objects.values_list("message_id", flat=True)) == {"t1", "p1"}


def test_a_batch_of_aliases_only_with_a_browser_key_is_403(client: Client) -> None:
    response = post(client, "batch", {"batch": [ALIAS | {"type": "alias"}]})
    assert response.status_code == 403
    assert not Event.objects.exists()


def test_a_server_key_still_sends_alias(client: Client) -> None:
    assert post(client, "alias", ALIAS, key=WRITE_KEY).status_code == 200
    assert Event.objects.filter(message_id="a1").exists()


def test_a_browser_key_in_the_body_is_a_browser_key(client: Client) -> None:
    response = client.post(
        "/seg/v1/alias",
        data=json.dumps(ALIAS | {"writeKey": BROWSER_KEY}),
        content_type="text/plain",
    )
    assert response.status_code == 403


# --- checks ------------------------------------------------------------------------
def messages(capsys: Any) -> str:
    try:
        call_command("check", "integrations")
    except Exception as error:
        return str(error)
    return str(capsys.readouterr())


@needs_npm
def test_the_example_project_passes_the_browser_checks(settings: Any, capsys: Any) -> None:
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    assert "integrations.W1" not in messages(capsys)
    assert "integrations.E1" not in messages(capsys)
