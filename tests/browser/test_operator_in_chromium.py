"""The operator's pages in headless Chromium at 1024 px and 1440 px, light and dark:
replay asks first and sends nothing until confirmed, an event's page has its buttons,
nothing an operator reads is clipped (order ids, the status column, JSON values), the
first attempt stays the real one after a replay, and every legend colour shows on its
background. Screenshots of each page, at each width and scheme, go to
test-artifacts/operator/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from integrations import api
from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Attempt, Event, Status
from integrations.operating import shown

from ..conftest import wait_until

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "operator"
PASSWORD = "correct horse battery"
ORDER_ID = "50314b8e9bcf000000000000"
LONG_VALUE = "gift-note-" + "x" * 180 + "-end"
WIDTHS = (1024, 1440)
SCHEMES = ("light", "dark")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.redis]

# WCAG's contrast ratio of two CSS colours, computed in the page.
CONTRAST = """([a, b]) => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}"""


def log_in(browser: Any, base: str, width: int, scheme: str) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


def shot(page: Any, name: str, width: int, scheme: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}-{width}-{scheme}.png"), full_page=True)


def fits(page: Any, selector: str) -> bool:
    """Whether every element ``selector`` finds shows all it holds, across and down."""
    return bool(
        page.eval_on_selector_all(
            selector,
            "els => els.length > 0 && els.every(e => e.scrollWidth <= e.clientWidth + 1"
            " && e.scrollHeight <= e.clientHeight + 1)",
        )
    )


def test_operator_pages_at_two_widths_in_light_and_dark(
    live_server: Any, sandbox: Sandbox, start_worker: Any, chromium: Any
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    start_worker(concurrency=1)
    order = api.track(
        "u1",
        "Order Completed",
        {
            "orderId": ORDER_ID,
            "total": 30,
            "currency": "USD",
            "products": [{"id": "507f1f77bcf86cd799439011", "name": "Monopoly", "price": 19}],
            "note": LONG_VALUE,
        },
        context={"traits": {"email": "ann.long.name@example.com"}},
    )
    api.identify("u1", {"email": "ann.long.name@example.com", "firstName": "Ann"})
    # A visitor's page view, held until they log in, then released and delivered.
    api.page(anonymous_id="visitor-7", name="Home", message_id="released-page")
    api.identify("u7", {"email": "cy@example.com"}, anonymous_id="visitor-7")
    wait_until(lambda: Event.objects.filter(status=Status.DELIVERED).count() == 4)
    sandbox.script(Answer(status=422, body={"error": "Email rejected"}))
    api.track("u2", "Product Viewed", {"id": "p1"}, context={"traits": {"email": "bo@example.com"}})
    wait_until(lambda: Event.objects.filter(status=Status.FAILED).exists())
    api.page(anonymous_id="visitor-9", name="Home", message_id="held-page")
    api.page(anonymous_id="visitor-8", name="Home", message_id="suppressed-page")
    Event.objects.filter(message_id="suppressed-page").update(status=Status.SUPPRESSED)
    event = Event.objects.get(message_id=order)
    first = Attempt.objects.get(event=event).started_at
    base = live_server.url
    change = f"{base}/admin/integrations/event/{event.pk}/change/"

    # Replay from the event's own page: a confirmation first, nothing sent before it.
    page = log_in(chromium, base, 1440, "light")
    page.goto(change)
    buttons = page.locator("#seg-event-buttons button")
    assert buttons.all_inner_texts() == ["Replay…"]
    buttons.first.click()
    page.wait_for_selector("#seg-confirm")
    assert page.inner_text("#seg-send-count") == "1"
    assert "Order Completed → OrderPlaced" in page.inner_text("#seg-send-kinds")
    assert ORDER_ID in page.inner_text("#seg-send-sample")
    shot(page, "confirm-replay", 1440, "light")
    assert sandbox.delivered_keys()[order] == 1
    assert Event.objects.get(pk=event.pk).status == Status.DELIVERED
    page.click("#seg-confirm input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert page.url == change  # back on the event's page
    assert "Replayed 1 delivered event." in page.inner_text(".messagelist")
    wait_until(lambda: sandbox.delivered_keys()[order] == 2)
    wait_until(lambda: Event.objects.get(pk=event.pk).status == Status.DELIVERED)
    page.context.close()

    for width in WIDTHS:
        for scheme in SCHEMES:
            page = log_in(chromium, base, width, scheme)
            page.goto(f"{base}/admin/integrations/event/")
            shot(page, "events", width, scheme)
            # The order id shows whole, and the status column inside the page.
            order_cell = page.locator("span.seg-order", has_text=ORDER_ID)
            assert order_cell.inner_text() == ORDER_ID
            assert fits(page, "span.seg-order")
            right = page.eval_on_selector_all(
                "#result_list .seg-badge",
                "bs => Math.max(...bs.map(b => b.getBoundingClientRect().right))",
            )
            visible = page.eval_on_selector(".results", "r => r.getBoundingClientRect().right")
            assert right <= min(visible, width), (width, scheme, right, visible)

            # Replay of all: what will be sent again, by kind, and what is left alone.
            page.check("#action-toggle")
            page.select_option("select[name=action]", "replay_events")
            page.click("button[name=index]")
            page.wait_for_selector("#seg-confirm")
            shot(page, "confirm-replay-all", width, scheme)
            assert page.inner_text("#seg-send-count") == "4"
            left = page.inner_text("#seg-left-alone")
            assert "1 failed event: use Retry delivery to send them." in left
            assert "1 suppressed event: use Unsuppress to send them." in left
            assert fits(page, "#seg-confirm")

            page.goto(change)
            page.wait_for_selector("#pane-sent")
            shot(page, "event", width, scheme)
            assert fits(page, ".seg-json")  # long values wrap, nothing cut
            assert LONG_VALUE in page.inner_text("#pane-sent").replace("\n", "")
            assert shown(first) in page.inner_text(".field-first_attempt")
            assert page.locator("#seg-event-buttons button").all_inner_texts() == ["Replay…"]

            failed = Event.objects.get(status=Status.FAILED)
            page.goto(f"{base}/admin/integrations/event/{failed.pk}/change/")
            shot(page, "event-failed", width, scheme)
            page.screenshot(
                path=str(SHOTS / f"event-failed-top-{width}-{scheme}.png"),
                clip={"x": 0, "y": 0, "width": width, "height": 480},
            )
            texts = page.locator("#seg-event-buttons button").all_inner_texts()
            assert texts == ["Retry delivery", "Suppress"]

            page.goto(f"{base}/admin/integrations/event/dashboard/")
            page.wait_for_selector("#seg-delivery-time")
            shot(page, "dashboard", width, scheme)
            assert "Receipt to delivery" not in page.inner_text("#content")
            assert "1 released" in page.inner_text("#seg-held-time")
            background = page.evaluate(
                "getComputedStyle(document.querySelector('#content')).backgroundColor"
                " .replace('rgba(0, 0, 0, 0)', getComputedStyle(document.body).backgroundColor)"
            )
            swatches = page.eval_on_selector_all(
                ".seg-legend i", "is => is.map(i => getComputedStyle(i).backgroundColor)"
            )
            for colour in swatches:
                ratio = page.evaluate(CONTRAST, [colour, background])
                assert ratio >= 1.5, (scheme, colour, background, ratio)

            page.goto(f"{base}/admin/integrations/event/customer/ann.long.name@example.com/")
            shot(page, "customer", width, scheme)
            assert "identify → update-customer" in page.inner_text("#customer-events")
            page.context.close()
