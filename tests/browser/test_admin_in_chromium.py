"""The real admin in headless Chromium: log in, filter, open an event, retry a failed
one until the local Seg server has it, suppress with a reason, and check that a
view-only user sees no action. Screenshots at 1366 px (the events list, an event, the
dashboard, a customer) go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from integrations import api
from integrations.dev.sandbox import Answer, Sandbox
from integrations.models import Event, Status

from ..conftest import wait_until

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery"

# Both queue deliveries through Redis: their events commit, for the live server to see.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def browser(chromium: Any) -> Any:
    return chromium


def log_in(browser: Any, base: str, username: str) -> Any:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


def test_operator_finds_retries_and_suppresses(
    live_server: Any, sandbox: Sandbox, start_worker: Any, browser: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    start_worker(concurrency=2, beat=True)
    sandbox.script(Answer(status=422, body={"error": "Email rejected"}))
    order = api.track(
        "u1",
        "Order Completed",
        {
            "orderId": "50314b8e9bcf000000000000",
            "total": 30,
            "currency": "USD",
            "products": [{"id": "507f1f77bcf86cd799439011", "name": "Monopoly <3rd>", "price": 19}],
        },
        context={"traits": {"email": "ann@example.com"}, "page": {"url": "https://shop.example/"}},
    )
    wait_until(lambda: Event.objects.filter(message_id=order, status=Status.FAILED).exists())
    for i in range(5):
        api.track(
            "u1",
            "Product Viewed",
            {"id": f"p{i}", "name": "Monopoly"},
            context={"traits": {"email": "ann@example.com"}},
        )
    api.page(anonymous_id="visitor-9", name="Home", message_id="held-page")
    wait_until(lambda: Event.objects.filter(status=Status.DELIVERED).count() == 5)

    page = log_in(browser, live_server.url, "ops")
    assert page.is_visible("#seg-sandbox-banner")  # never mistaken for production
    icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.ok and icon.headers["content-type"] == "image/svg+xml"

    # Find the order: filter on failed, search by order id, open it.
    page.goto(f"{live_server.url}/admin/integrations/event/")
    # At 1366 px each moment keeps to one line and the whole list fits the page.
    page.screenshot(path=str(ARTIFACTS / "events.png"), full_page=True)
    when = page.locator("#result_list tbody td.field-when, #result_list tbody th.field-when")
    lines = "a => new Set([...a.getClientRects()].map(r => Math.round(r.top))).size"
    assert when.first.locator("a").evaluate(lines) == 1
    assert page.eval_on_selector(".results", "r => r.scrollWidth <= r.clientWidth")
    page.click("#changelist-filter a:has-text('failed')")
    page.fill("#searchbar", "50314b8e9bcf000000000000")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=50314b8e9bcf000000000000**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    rows.first.locator("th a").click()
    page.wait_for_selector("#pane-answers")
    answers = page.inner_text("#pane-answers")
    assert "HTTP 422" in answers and "Email rejected" in answers
    assert "Monopoly <3rd>" in page.inner_text("#pane-sent")  # shown as text, escaped once
    for pane in ("#pane-sent", "#pane-seg"):  # long values wrap inside their pane
        assert page.eval_on_selector(f"{pane} .seg-json", "p => p.scrollWidth <= p.clientWidth")
    page.screenshot(path=str(ARTIFACTS / "event-failed.png"), full_page=True)

    # Retry it from the list, and watch it become delivered at the Seg server.
    page.goto(f"{live_server.url}/admin/integrations/event/?q=50314b8e9bcf000000000000")
    page.check("#result_list tbody input.action-select")
    page.select_option("select[name=action]", "retry_events")
    page.click("button[name=index]")
    assert "Retried 1 failed event." in page.inner_text(".messagelist")
    wait_until(lambda: Event.objects.filter(message_id=order, status=Status.DELIVERED).exists())
    assert sandbox.delivered_keys()[order] == 1
    page.goto(f"{live_server.url}/admin/integrations/event/?q=50314b8e9bcf000000000000")
    assert "delivered" in page.inner_text("#result_list tbody tr")
    page.click("#result_list tbody th a")
    page.wait_for_selector("#history")
    assert "Retried by ops." in page.inner_text("#history")
    page.screenshot(path=str(ARTIFACTS / "event.png"), full_page=True)

    # Suppress the held page view, with a reason.
    page.goto(f"{live_server.url}/admin/integrations/event/?status__exact=held")
    page.check("#result_list tbody input.action-select")
    page.select_option("select[name=action]", "suppress_events")
    page.click("button[name=index]")
    page.fill("#id_reason", "Bot traffic")
    page.click("input[type=submit][value=Suppress]")
    assert "Suppressed 1 held event." in page.inner_text(".messagelist")
    held = Event.objects.get(message_id="held-page")
    assert held.status_reason == "Suppressed by ops: Bot traffic"

    page.goto(f"{live_server.url}/admin/integrations/event/dashboard/")
    page.wait_for_selector("#per-minute svg")
    # A space after each breadcrumb's separator, as on the admin's own pages.
    gaps = page.eval_on_selector_all(
        "ol.breadcrumbs li",
        "lis => lis.slice(1).map((li, i) =>"
        " li.getBoundingClientRect().left - lis[i].getBoundingClientRect().right)",
    )
    assert len(gaps) == 3 and min(gaps) > 2
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/integrations/event/customer/ann@example.com/")
    assert page.locator("#customer-events tbody tr").count() == 6
    page.screenshot(path=str(ARTIFACTS / "customer.png"), full_page=True)


def test_view_only_user_sees_no_action(live_server: Any, browser: Any) -> None:
    viewer = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_event"))
    api.track("u1", "Product Viewed", {"id": "p1"}, context={"traits": {"email": "a@example.com"}})
    page = log_in(browser, live_server.url, "viewer")
    page.goto(f"{live_server.url}/admin/integrations/event/")
    assert page.locator("#result_list tbody tr").count() == 1
    assert page.locator("select[name=action]").count() == 0
    page.click("#result_list tbody th a")
    page.wait_for_selector("#pane-sent")
