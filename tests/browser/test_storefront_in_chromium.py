"""The demo storefront in headless Chromium, with analytics.js as the app serves it.

The shop runs as ``scripts/run.sh`` runs it (``manage.py seg_runserver``, a real worker,
the sandbox as Seg), on one origin or with the app's mount on another port. A
visitor browses anonymously, logs in and orders: the anonymous calls are held, the
login's identify releases them in order, and the order reaches Seg with its lines.
analytics.js retries a call that met a stopped server, by itself, until it is
stored. Every request the page makes is recorded: none leaves 127.0.0.1, and the
console shows no error.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from integrations.dev import Sandbox
from integrations.models import CallType, Event, Status

from ..clients.visit import expect_order
from ..conftest import ROOT, DevServer, child_env, free_port, wait_until
from .conftest import STANDALONE, require_analytics_js

ARTIFACTS = ROOT / "test-artifacts"
BROWSER_KEY = "storefront-browser-key"

# Servers and a worker are separate processes: the test's rows must commit.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.redis]


class Shop(DevServer):
    """``manage.py seg_runserver`` on a port it keeps, so that it can stop and start again."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.port = port
        self.env = env | {"PYTHONUNBUFFERED": "1"}
        self.boot()

    def boot(self) -> None:
        command = [sys.executable, "manage.py", "seg_runserver", f"127.0.0.1:{self.port}"]
        self.start([*command, "--noreload"], self.env, ready="Quit")


@dataclass
class Origins:
    """Where the storefront's pages come from, and where the app's mount answers."""

    shop: Shop
    app: Shop

    @property
    def mount(self) -> str:
        return f"{self.app.url}/seg"


@pytest.fixture
def open_shop(sandbox: Sandbox, start_worker: Any) -> Iterator[Callable[..., Origins]]:
    """Start the shop: ``open_shop()`` on one origin, ``open_shop(allowed="...")`` with
    the mount on a second server (``SEG_ALLOWED_ORIGINS``; ``"*"`` leaves it empty)."""
    started: list[Shop] = []
    start_worker(concurrency=1)

    def open_(allowed: str | None = None) -> Origins:
        shop_port, app_port = free_port(), free_port()
        env = child_env(
            sandbox,
            DEBUG="1",  # as run.sh: seg_runserver serves the site's icon
            SECRET_KEY="storefront-test-secret",  # sessions outlive a restart
            SEG_BROWSER_WRITE_KEYS=BROWSER_KEY,
            SEG_ANALYTICS_JS_PATH=str(STANDALONE),
        )
        if allowed is None:
            shop = Shop(env, shop_port)
            started.append(shop)
            return Origins(shop, shop)
        shop_origin = f"http://127.0.0.1:{shop_port}"
        listed = "" if allowed == "*" else allowed.format(shop=shop_origin)
        app = Shop(env | {"SEG_ALLOWED_ORIGINS": listed}, app_port)
        shop = Shop(env | {"SEG_PUBLIC_ORIGIN": app.url}, shop_port)
        started.extend([app, shop])
        return Origins(shop, app)

    yield open_
    for server in started:
        server.stop()


@dataclass
class Recorded:
    """What a page did: every request, failed ones, and console errors."""

    requests: list[Any] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def hosts(self) -> set[str | None]:
        return {urlsplit(request.url).hostname for request in self.requests}

    def posts(self, path: str) -> list[Any]:
        return [r for r in self.requests if r.method == "POST" and urlsplit(r.url).path == path]

    def lost(self) -> list[Any]:
        """Failed requests but the calls a page cut off by moving on (``net::ERR_ABORTED``)
        whose messages analytics.js sent again from its queue, and which were stored."""
        return [r for r in self.failed if not _sent_again(r)]


def _sent_again(request: Any) -> bool:
    if request.failure != "net::ERR_ABORTED" or "/seg/v1/" not in request.url:
        return False
    try:
        body = json.loads(request.post_data or "")
    except ValueError:
        return False
    messages = body.get("batch", [body]) if isinstance(body, dict) else []
    ids = [m.get("messageId") for m in messages if isinstance(m, dict)]
    stored = Event.objects.filter(message_id__in=ids, source="browser").count()
    return bool(ids) and stored == len(ids)


@pytest.fixture(autouse=True)
def analytics_js_installed(chromium: Any) -> None:
    require_analytics_js()


def new_page(chromium: Any) -> tuple[Any, Recorded]:
    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    seen = Recorded()
    context.on("request", lambda request: seen.requests.append(request))
    context.on("requestfailed", lambda request: seen.failed.append(request))
    page.on("console", lambda m: seen.errors.extend([m.text] if m.type == "error" else []))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    return page, seen


def pump_until(page: Any, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll ``check`` while Playwright hands this thread the page's events (requests,
    console): its sync API delivers them only inside its own calls."""
    for _ in range(int(timeout * 10)):
        if value := check():
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"Timed out after {timeout}s waiting for {check}")


def stored(call_type: str, name: str | None = None) -> int:
    events = Event.objects.filter(call_type=call_type)
    return (events.filter(name=name) if name is not None else events).count()


def wait_stored(call_type: str, count: int, name: str | None = None) -> None:
    """Wait until the page's calls are in the database, before it navigates on."""
    wait_until(lambda: stored(call_type, name) >= count, timeout=30)


def all_delivered() -> bool:
    """Every call that maps to Seg is delivered (the others are ignored), but the
    identifies of later pages, which tell Seg nothing new (unchanged)."""
    sent = (Status.DELIVERED, Status.UNCHANGED)
    return not Event.objects.exclude(action="").exclude(status__in=sent).exists()


def customer() -> User:
    return User.objects.create_user("ann", "ann@example.com", "ann", first_name="Ann")


def browse_anonymously(page: Any, shop: str) -> None:
    """The catalogue, a category, two products into the basket, then the checkout."""
    page.goto(f"{shop}/")
    wait_stored(CallType.TRACK, 1, "Product List Viewed")
    for pages, (product, quantity) in enumerate([("Monopoly", "2"), ("Catan", "1")]):
        page.click("header nav >> text=Board games")
        wait_stored(CallType.TRACK, 2 + pages, "Product List Viewed")
        page.click(f".product >> text={product}")
        wait_stored(CallType.TRACK, 1 + pages, "Product Viewed")
        page.fill("input[name=quantity]", quantity)
        page.click("button.buy")
        page.wait_for_url("**/basket/")
        wait_stored(CallType.TRACK, 1 + pages, "Product Added")
    page.click("#checkout-link")
    page.wait_for_url("**/accounts/login/?next=/checkout/")
    wait_stored(CallType.PAGE, 8)


def log_in_and_order(page: Any) -> None:
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "ann")
    page.click("input[type=submit]")
    page.wait_for_url("**/checkout/")
    wait_stored(CallType.IDENTIFY, 1)
    page.select_option("select[name=delivery_method]", "express")
    page.fill("input[name=coupon]", "DEMO10")
    page.click("#place-order")
    page.wait_for_selector("#order-id")
    wait_stored(CallType.TRACK, 1, "Order Completed")


@pytest.mark.parametrize("allowed", [None, "{shop}"], ids=["same-origin", "cross-origin"])
def test_a_visit_is_held_released_on_login_and_the_order_delivered(
    open_shop: Callable[..., Origins], sandbox: Sandbox, chromium: Any, allowed: str | None
) -> None:
    ann = customer()
    origins = open_shop(allowed)
    page, seen = new_page(chromium)

    browse_anonymously(page, origins.shop.url)
    anonymous = list(Event.objects.order_by("timestamp", "id"))
    # 8 pages, 3 lists, 2 products viewed, 2 added: all held, nothing sent to Seg.
    assert len(anonymous) == 15
    assert {e.status for e in anonymous} == {Status.HELD}
    assert len({e.anonymous_id for e in anonymous}) == 1 and anonymous[0].anonymous_id
    assert sandbox.snapshot() == []
    if allowed is None:
        page.screenshot(path=str(ARTIFACTS / "storefront-product.png"))

    log_in_and_order(page)
    held = [e.message_id for e in anonymous]
    wait_until(all_delivered)
    # Released in the order the visitor made them, with the email the login gave.
    sent = [r.body for r in sandbox.delivered() if r.body.get("MessageId") in held]
    assert [body["MessageId"] for body in sent] == held
    assert {body["Email"] for body in sent} == {"ann@example.com"}
    [identify] = [r.body for r in sandbox.delivered() if r.action == "update-customer"][:1]
    assert identify["Id"] == str(ann.pk) and identify["Email"] == "ann@example.com"
    [order] = [r.body for r in sandbox.delivered() if r.action == "order-placed"]
    expect_order(order, "ann@example.com", str(ann.pk))
    range_views = [body for body in sent if body["Event"] == "RangeView"]
    assert range_views[1]["Categories"] == ["Board games"]
    assert range_views[1]["Brands"] == ["Hasbro", "Kosmos", "Days of Wonder"]

    page.wait_for_timeout(300)  # the last events reach this thread
    # analytics.js came from the mount; every call went there; nothing left 127.0.0.1.
    assert seen.hosts() == {"127.0.0.1"}
    bundle = f"{origins.mount}/analytics.js/v1/{BROWSER_KEY}/analytics.min.js"
    assert any(r.url == bundle for r in seen.requests)
    calls = [r for r in seen.requests if r.method == "POST" and "/seg/v1/" in r.url]
    assert calls and {urlsplit(r.url).netloc for r in calls} == {urlsplit(origins.mount).netloc}
    assert seen.lost() == [] and seen.errors == []
    if allowed is None:
        save_record(sandbox)


def save_record(sandbox: Sandbox) -> None:
    """What analytics.js sent and what Seg received, kept for a reader of the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    received = {
        "app": [e.message for e in Event.objects.order_by("id")],
        "sandbox": [{"action": r.action, "body": r.body} for r in sandbox.delivered()],
    }
    (ARTIFACTS / "analytics-js-visit.json").write_text(json.dumps(received, indent=1))


def adds(seen: Recorded) -> list[Any]:
    """The page's POSTs of its Product Added call, every try."""
    tries = seen.posts("/seg/v1/t")
    return [r for r in tries if json.loads(r.post_data)["event"] == "Product Added"]


def test_analytics_js_retries_a_call_that_met_a_stopped_server(
    open_shop: Callable[..., Origins], chromium: Any
) -> None:
    origins = open_shop()
    page, seen = new_page(chromium)
    page.goto(f"{origins.shop.url}/product/507f1f77bcf86cd799439011/")
    wait_stored(CallType.TRACK, 1, "Product Viewed")

    origins.shop.stop()
    page.evaluate("analytics.track('Product Added', {product_id: '507f1f77bcf86cd799439011'})")
    pump_until(page, lambda: [r for r in seen.failed if urlsplit(r.url).path == "/seg/v1/t"])
    origins.shop.boot()  # the same port, a new process
    wait_stored(CallType.TRACK, 1, "Product Added")

    tries = pump_until(page, lambda: adds(seen)[1:] and adds(seen))
    added = [json.loads(r.post_data)["messageId"] for r in tries]
    # One call, sent more than once with the same messageId, stored once.
    assert len(added) >= 2 and len(set(added)) == 1
    assert Event.objects.filter(message_id=added[0]).count() == 1
    assert all(int(r.headers["x-retry-count"]) >= 1 for r in tries[1:])
    ARTIFACTS.mkdir(exist_ok=True)
    record = [{"retry": r.headers.get("x-retry-count"), "failed": r in seen.failed} for r in tries]
    (ARTIFACTS / "analytics-js-retry.json").write_text(json.dumps(record))
    assert seen.hosts() == {"127.0.0.1"}
    # The stopped server is the only error the console shows: a refused connection, or
    # one the dying server closed before it answered (a request it had read, or a
    # kept-alive connection). A CORS or script error would show as something else.
    stopped = ("ERR_CONNECTION_REFUSED", "ERR_EMPTY_RESPONSE", "ERR_CONNECTION_RESET")
    assert all(any(e in error for e in stopped) for error in seen.errors), seen.errors


SNIPPET = (ROOT / "tests" / "clients" / "segment-snippet.min.js").read_text()


def proxied(snippet: str, mount: str, key: str) -> str:
    """Segment's snippet with the edits of its custom-proxy guide: analytics.js from the
    shop's mount instead of cdn.segment.com, ``analytics._cdn`` set to the same place
    (what @segment/snippet's ``useHostForBundles`` writes), and the source's key."""
    edited = snippet.replace("https://cdn.segment.com", mount)
    edited = edited.replace(
        "analytics._writeKey=", f'analytics._cdn="{mount}";analytics._writeKey='
    )
    return edited.replace("YOUR_WRITE_KEY", key)


@contextmanager
def serving(html: str) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 that answers ``html`` at every path; yields its URL."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pasted/"
    finally:
        server.shutdown()
        server.server_close()


def test_segments_own_snippet_loads_analytics_js_from_the_shop(
    open_shop: Callable[..., Origins], chromium: Any
) -> None:
    # The mount answers every origin ("*"); the page is a plain one on a third port.
    origins = open_shop(allowed="*")
    snippet = proxied(SNIPPET, origins.mount, BROWSER_KEY)
    page, seen = new_page(chromium)
    with serving(f"<!doctype html><title>Pasted</title><script>{snippet}</script>") as pasted:
        page.goto(pasted)
        pump_until(page, lambda: stored(CallType.PAGE))
    event = Event.objects.get()
    assert event.message["context"]["library"]["name"] == "analytics.js"
    assert event.message["context"]["page"]["url"] == pasted
    assert event.status == Status.HELD
    pump_until(page, lambda: seen.posts("/seg/v1/p"))
    bundle = f"{origins.mount}/analytics.js/v1/{BROWSER_KEY}/analytics.min.js"
    settings = f"{origins.mount}/v1/projects/{BROWSER_KEY}/settings"
    assert {bundle, settings} <= {r.url for r in seen.requests}
    assert seen.hosts() == {"127.0.0.1"}
    assert seen.failed == [] and seen.errors == []
