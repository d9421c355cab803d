"""The real analytics.js (npm @segment/analytics-next, unchanged) in headless Chromium,
on a page of another origin, with the shop as its CDN and its API.

It loads itself and its settings from the mount, sends page, identify and track,
retries what the rate limit refused (its retries carry X-Retry-Count, so they need
the preflight), and sends with ``credentials: 'include'`` when the origin is allowed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from integrations.models import Event

from .conftest import STANDALONE, require_analytics_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture(autouse=True)
def analytics_js_installed(chromium: Any) -> None:
    require_analytics_js()


class Page:
    """One HTML page served on its own port: an origin other than the shop's."""

    def __init__(self) -> None:
        self.html = b""
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.html)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.origin = self.url.rstrip("/")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def other_origin() -> Iterator[Page]:
    page = Page()
    yield page
    page.server.shutdown()


def snippet(load_options: str = "") -> str:
    """The tag's output, rendered for the live server, with ``load_options`` passed to load."""
    html: str = Template("{% load seg_analytics %}{% seg_analytics %}").render(
        Context({"request": RequestFactory().get("/")})
    )
    if load_options:
        original = "analytics.load(config.writeKey,{useQueryString:false});"
        assert original in html
        options = f"Object.assign({{useQueryString:false}}, {load_options})"
        html = html.replace(original, f"analytics.load(config.writeKey, {options});")
    return html


CALLS = """<script>
analytics.identify("u1", {email: "ann@example.com"});
analytics.track("Product Viewed", {id: "p1", name: "Monopoly", price: 18.99});
analytics.track("Product Added", {id: "p1", price: 18.99, quantity: 1});
</script>"""


def open_page(
    chromium: Any, page: Page, html: str, query: str = ""
) -> tuple[Any, list[dict[str, str]]]:
    page.html = f"<!doctype html><html><head><title>Shop</title>{html}{CALLS}</head>".encode()
    tab = chromium.new_page()
    sent: list[dict[str, str]] = []
    tab.on(
        "request",
        lambda request: (
            sent.append(request.headers | {"url": request.url})
            if "/seg/v1/" in request.url and request.method == "POST"
            else None
        ),
    )
    tab.goto(page.url + query)
    return tab, sent


def stored_types() -> list[str]:
    return sorted(Event.objects.values_list("call_type", flat=True))


def wait_in(tab: Any, check: Any, timeout: float = 30) -> None:
    """Poll ``check`` while the page runs (Playwright reports its events only while it waits)."""
    for _ in range(int(timeout * 5)):
        if check():
            return
        tab.wait_for_timeout(200)
    raise AssertionError(f"Timed out after {timeout}s: {stored_types()}")


def test_analytics_js_loads_from_the_shop_and_its_retries_get_through(
    live_server: Any, settings: Any, chromium: Any, other_origin: Page
) -> None:
    settings.SEG_PUBLIC_ORIGIN = live_server.url
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    # Two messages at once, one a second after: two of the four calls get 429
    # with Retry-After and come back as retries.
    settings.SEG_BROWSER_BURST = 2
    settings.SEG_BROWSER_RATE_LIMIT = 1
    tab, sent = open_page(chromium, other_origin, snippet())
    wait_in(tab, lambda: stored_types() == ["identify", "page", "track", "track"])
    assert any("x-retry-count" in headers for headers in sent), sent
    emails = set(Event.objects.exclude(email="").values_list("email", flat=True))
    assert emails == {"ann@example.com"}
    tab.close()


def test_credentials_include_works_for_an_allowed_origin(
    live_server: Any, settings: Any, chromium: Any, other_origin: Page
) -> None:
    settings.SEG_PUBLIC_ORIGIN = live_server.url
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    settings.SEG_ALLOWED_ORIGINS = [other_origin.origin]
    options = (
        '{integrations: {"Segment.io": {deliveryStrategy: {config: {credentials: "include"}}}}}'
    )
    tab, _ = open_page(chromium, other_origin, snippet(options))
    wait_in(tab, lambda: len(stored_types()) == 4)
    tab.close()


def test_a_link_cannot_choose_the_visitors_anonymous_id_or_make_it_send(
    live_server: Any, settings: Any, chromium: Any, other_origin: Page
) -> None:
    """analytics.js's query-string API is off in the tag: a link that names an
    anonymousId (to learn a victim's, then speak for it), a userId or an event changes
    nothing the browser sends."""
    settings.SEG_PUBLIC_ORIGIN = live_server.url
    settings.SEG_ANALYTICS_JS_PATH = str(STANDALONE)
    query = "?ajs_aid=fixed-by-a-link&ajs_uid=42&ajs_event=Order%20Completed"
    tab, _ = open_page(chromium, other_origin, snippet(), query)
    wait_in(tab, lambda: len(stored_types()) == 4)
    tab.wait_for_timeout(500)
    assert stored_types() == ["identify", "page", "track", "track"]
    assert "fixed-by-a-link" not in set(Event.objects.values_list("anonymous_id", flat=True))
    assert not Event.objects.filter(name="Order Completed").exists()
    tab.close()
