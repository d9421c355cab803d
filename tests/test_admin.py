"""The operator's admin: lists, the event page, actions and their permissions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import django.contrib.admin
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import connection
from django.templatetags.static import static
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import integrations
from integrations import api
from integrations.admin.lists import CappedPaginator
from integrations.lifecycle import operations
from integrations.models import Event, Status, StatusChange, SuppressionRule
from integrations.operating import metrics

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/integrations/event/"


def operator(username: str = "ops", *perms: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    codenames = ("view_event", *perms)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def logged_in(client: Client, *perms: str) -> Client:
    client.force_login(operator("ops", *perms))
    return client


def make_events(n: int, email: str = "ann@example.com", **fields: Any) -> list[Event]:
    ids = [
        api.track(
            "u1",
            "Order Completed",
            {"orderId": f"order-{i}", "total": i},
            context={"traits": {"email": email}},
        )
        for i in range(n)
    ]
    events = Event.objects.filter(message_id__in=ids)
    if fields:
        events.update(**fields)
    return list(events.order_by("id"))


def test_list_shows_who_what_and_status(client: Client) -> None:
    make_events(3)
    api.page(anonymous_id="anon-1", name="Home")
    response = logged_in(client).get(CHANGELIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Order Completed &rarr; <b>OrderPlaced</b>" in html
    assert "anonymous" in html and "ann@example.com" in html
    assert "seg-badge" in html


def test_list_shows_the_order_id(client: Client) -> None:
    make_events(2)
    html = logged_in(client).get(CHANGELIST).content.decode()
    for order_id in ("order-0", "order-1"):
        assert f'<td class="field-order"><span class="seg-order">{order_id}</span>' in html


def test_list_query_count_is_fixed(client: Client) -> None:
    logged_in(client)
    make_events(5)
    client.get(CHANGELIST)  # warm Django's per-process caches
    with CaptureQueriesContext(connection) as few:
        client.get(CHANGELIST + "?status__exact=pending&has_error=no&received=24h")
    make_events(45, email="bo@example.com")
    with CaptureQueriesContext(connection) as many:
        client.get(CHANGELIST + "?status__exact=pending&has_error=no&received=24h")
    assert len(few) == len(many)
    assert not [
        q
        for q in many
        if re.search(r"SELECT COUNT\(\*\) AS .__count. FROM .integrations_event.\s*$", q["sql"])
    ]


def test_list_says_more_than_the_paginators_cap(client: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(CappedPaginator, "cap", 3)
    make_events(4)
    html = logged_in(client).get(CHANGELIST).content.decode()
    assert "more than 3 events" in html
    monkeypatch.setattr(CappedPaginator, "cap", 4)
    html = client.get(CHANGELIST).content.decode()
    assert "more than 4" not in html and "4 events" in html


def test_event_page_query_count_is_fixed(client: Client) -> None:
    logged_in(client)
    [one] = make_events(1)
    [other] = make_events(1, email="bo@example.com")
    for attempt in range(1, 8):
        other.attempt_set.create(
            number=attempt,
            started_at=other.received_at,
            duration_ms=3,
            url="u",
            status_code=500,
            verdict="retry",
            error_class="HTTP 500",
        )
    client.get(f"{CHANGELIST}{one.pk}/change/")  # warm Django's per-process caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"{CHANGELIST}{one.pk}/change/").status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"{CHANGELIST}{other.pk}/change/").status_code == 200
    assert len(few) == len(many)


def test_event_page_reads_the_event_once(client: Client) -> None:
    [event] = make_events(1)
    logged_in(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{CHANGELIST}{event.pk}/change/").status_code == 200
    assert len([q for q in queries if 'FROM "integrations_event"' in q["sql"]]) == 1


def test_an_event_id_that_is_not_a_number_is_not_found(client: Client) -> None:
    logged_in(client)
    assert client.get(f"{CHANGELIST}abc/change/").status_code == 404
    # A digit to str.isdigit(), not to int().
    assert client.get(f"{CHANGELIST}%C2%B2/change/").status_code == 404


def test_event_page_shows_three_panes_history_and_identity(client: Client) -> None:
    api.page(anonymous_id="a1", name="Home", message_id="held-1")
    api.identify("u1", {"email": "ann@example.com"}, anonymous_id="a1")
    event = Event.objects.get(message_id="held-1")
    html = logged_in(client).get(f"{CHANGELIST}{event.pk}/change/").content.decode()
    for pane in ("You sent", "Sent to Seg", "Seg answered"):
        assert pane in html
    assert "/django/abc8fb18-7559-4324-9921-a4b5015b4a1c/events" in html
    assert "Released: an identify made ann@example.com known." in html
    assert "anonymousId <code>a1</code>" in html


def test_every_moment_is_written_one_way_with_its_time_zone(client: Client, settings: Any) -> None:
    settings.TIME_ZONE = "America/New_York"
    [event] = make_events(1)
    moment = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)
    Event.objects.filter(pk=event.pk).update(
        received_at=moment, timestamp=moment, first_attempt_at=moment, next_attempt_at=moment
    )
    event.attempt_set.create(
        number=1,
        started_at=moment,
        duration_ms=3,
        url="u",
        status_code=500,
        verdict="retry",
        error_class="HTTP 500",
        retry_at=moment + timedelta(minutes=1),
    )
    SuppressionRule.objects.create(email="qa@example.com", reason="QA", created_at=moment)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(f"{CHANGELIST}{event.pk}/change/").content.decode()
    assert "retry due 2026-01-15 09:01:00 EST." in page
    assert "The retry window runs from here." not in page  # first attempt: the real one
    assert "the retry window runs from it." in page
    assert "None" not in re.sub(r"<[^>]+>", "", page)  # an empty moment shows as the admin's -
    for url in (
        CHANGELIST,
        f"{CHANGELIST}{event.pk}/change/",
        reverse("admin:integrations_event_customer", args=[event.email]),
        "/admin/integrations/suppressionrule/",
    ):
        html = client.get(url).content.decode()
        assert "2026-01-15 09:00:00 EST" in re.sub(r"<[^>]+>", "", html), url
        assert not re.search(r"Jan\. 15|[ap]\.m\.", html), url


def test_a_script_in_a_payload_is_escaped(client: Client) -> None:
    api.track(
        "u1",
        "Product Viewed",
        {"name": "<script>alert(1)</script>"},
        context={"traits": {"email": "x@example.com"}},
        message_id="xss",
    )
    event = Event.objects.get(message_id="xss")
    html = logged_in(client).get(f"{CHANGELIST}{event.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pages_carry_no_inline_style(client: Client) -> None:
    [event] = make_events(1)
    api.page(anonymous_id="anon-1", name="Home")
    logged_in(client, "suppress_event")
    pages = {
        url: client.get(url)
        for url in (
            CHANGELIST,
            f"{CHANGELIST}{event.pk}/change/",
            reverse("admin:integrations_event_dashboard"),
            reverse("admin:integrations_event_customer", args=[event.email]),
        )
    }
    pages["suppress"] = client.post(
        CHANGELIST, {"action": "suppress_events", "_selected_action": [event.pk], "index": 0}
    )
    for url, response in pages.items():
        html = response.content.decode()
        assert response.status_code == 200 and "style=" not in html, url


def test_the_sandbox_banner_shows_once_on_every_admin_page(client: Client) -> None:
    [event] = make_events(1)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    for url in (
        "/admin/",
        "/admin/auth/user/",
        "/admin/integrations/",
        "/admin/integrations/suppressionrule/add/",
        CHANGELIST,
        f"{CHANGELIST}{event.pk}/change/",
        reverse("admin:integrations_event_dashboard"),
    ):
        html = client.get(url).content.decode()
        assert html.count('id="seg-sandbox-banner"') == 1, url


def test_the_app_shows_the_banner_on_its_own_pages_in_a_site_that_does_not(
    client: Client, settings: Any
) -> None:
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]
    logged_in(client)
    assert 'id="seg-sandbox-banner"' not in client.get("/admin/").content.decode()
    dashboard = client.get(reverse("admin:integrations_event_dashboard")).content.decode()
    assert dashboard.count('id="seg-sandbox-banner"') == 1


def test_the_banner_is_off_when_deliveries_go_to_seg(client: Client, settings: Any) -> None:
    settings.SEG_TRACKER_URL = "https://tracker.segapp.com"
    logged_in(client)
    for url in ("/admin/", CHANGELIST):
        assert "seg-sandbox-banner" not in client.get(url).content.decode(), url


def test_the_app_overrides_none_of_the_admins_own_templates() -> None:
    ours = Path(integrations.__file__).parent / "templates"
    django_admin = Path(django.contrib.admin.__file__).parent / "templates"
    shipped = {p.relative_to(ours) for p in ours.rglob("*.html")}
    assert shipped and not {p for p in shipped if (django_admin / p).exists()}


def test_breadcrumbs_are_spaced_as_the_admins_own(client: Client) -> None:
    [event] = make_events(1)
    logged_in(client, "suppress_event")
    pages = [
        client.get(reverse("admin:integrations_event_dashboard")),
        client.get(reverse("admin:integrations_event_customer", args=[event.email])),
        client.post(
            CHANGELIST, {"action": "suppress_events", "_selected_action": [event.pk], "index": 0}
        ),
    ]
    for response in pages:
        html = response.content.decode()
        [crumbs] = re.findall(r'<ol class="breadcrumbs">(.*?)</ol>', html, re.S)
        assert crumbs.count("<li") == 4 and "</li><li" not in crumbs


def test_the_site_has_an_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == static("favicon.svg")
    assert finders.find("favicon.svg")
    html = logged_in(client).get("/admin/").content.decode()
    assert f'<link rel="icon" href="{static("favicon.svg")}"' in html


def test_search_by_email_order_id_message_id(client: Client) -> None:
    make_events(2)
    make_events(1, email="bo@example.com")
    logged_in(client)
    for term, expected in (("Bo@Example.com", 1), ("order-0", 2), ("order-1", 1), ("nothing", 0)):
        response = client.get(CHANGELIST, {"q": term})
        assert len(response.context["cl"].result_list) == expected, term


def test_view_only_user_sees_no_actions(client: Client) -> None:
    make_events(1)
    html = logged_in(client).get(CHANGELIST).content.decode()
    assert 'name="action"' not in html


@pytest.mark.redis
def test_retry_action_needs_its_permission(client: Client) -> None:
    events = make_events(3, status=Status.FAILED, next_attempt_at=None)
    data = {"action": "retry_events", "_selected_action": [e.pk for e in events], "index": 0}
    logged_in(client).post(CHANGELIST, data)
    assert Event.objects.filter(status=Status.FAILED).count() == 3
    client.force_login(User.objects.create_user("boss", password="pw", is_staff=True))
    User.objects.get(username="boss").user_permissions.set(
        Permission.objects.filter(codename__in=["view_event", "retry_event"])
    )
    asked = client.post(CHANGELIST, data, follow=True)
    assert "Retry delivery will send" in asked.content.decode()
    assert Event.objects.filter(status=Status.FAILED).count() == 3
    response = client.post(CHANGELIST, data | {"post": "yes"}, follow=True)
    assert "Retried 3 failed events." in response.content.decode()
    assert Event.objects.filter(status=Status.PENDING).count() == 3
    assert StatusChange.objects.filter(cause="Retried by boss.").count() == 3
    assert LogEntry.objects.get().change_message == "Retried 3 of 3 selected events."


def test_admin_log_counts_in_words_and_skips_an_action_that_changed_nothing(
    client: Client,
) -> None:
    [failed] = make_events(1, status=Status.FAILED, next_attempt_at=None)
    [pending] = make_events(1, email="bo@example.com")
    logged_in(client, "retry_event")
    for event in (failed, pending):
        client.post(
            CHANGELIST, {"action": "retry_events", "_selected_action": [event.pk], "index": 0}
        )
    entry = LogEntry.objects.get()
    assert (entry.object_repr, entry.change_message) == (
        "1 event",
        "Retried 1 of 1 selected event.",
    )
    assert str(entry) == "Changed “1 event” — Retried 1 of 1 selected event."


def test_suppress_asks_for_a_reason_then_suppresses_across_the_filter(client: Client) -> None:
    make_events(4)
    delivered = make_events(1, status=Status.DELIVERED)
    logged_in(client, "suppress_event")
    data = {
        "action": "suppress_events",
        "select_across": 1,
        "index": 0,
        "_selected_action": [delivered[0].pk],
    }
    asked = client.post(CHANGELIST, data)
    assert "reason" in asked.content.decode() and asked.status_code == 200
    done = client.post(CHANGELIST, data | {"reason": "test order"}, follow=True)
    assert (
        "Suppressed 4 pending events; 1 delivered event left alone — Seg has them already; "
        "nothing is left to stop." in done.content.decode()
    )
    assert (
        Event.objects.filter(
            status=Status.SUPPRESSED, status_reason="Suppressed by ops: test order"
        ).count()
        == 4
    )
    client.post(
        CHANGELIST,
        {
            "action": "unsuppress_events",
            "select_across": 1,
            "index": 0,
            "_selected_action": [delivered[0].pk],
            "post": "yes",
        },
    )
    assert Event.objects.filter(status=Status.PENDING).count() == 4


def test_bulk_retry_of_many_rows_is_two_statements() -> None:
    make_events(1)
    Event.objects.update(status=Status.FAILED)
    failed = Event.objects.filter(status=Status.FAILED)
    with CaptureQueriesContext(connection) as queries:
        operations.retry(failed, "ops")
    writes = [q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 2


def test_suppression_rule_catches_events_at_ingest(client: Client) -> None:
    rule = SuppressionRule.objects.create(email="test@example.com", reason="QA account")
    from integrations.lifecycle import rules

    rules.forget()
    make_events(1, email="test@example.com")
    make_events(1, email="real@example.com")
    caught = Event.objects.get(email="test@example.com")
    assert caught.status == Status.SUPPRESSED and caught.rule == rule
    assert caught.status_reason == f"Suppressed by rule {rule.pk}: QA account"
    assert Event.objects.get(email="real@example.com").status == Status.PENDING
    SuppressionRule.objects.create(seg_event="PageView", reason="no page views")
    rules.forget()
    api.page("u9", name="Home", context={"traits": {"email": "z@example.com"}}, message_id="pv")
    assert Event.objects.get(message_id="pv").status == Status.SUPPRESSED


def test_customer_page_lists_events_in_order_and_aliases(client: Client) -> None:
    make_events(2, email="old@example.com")
    api.alias("old@example.com", "new@example.com")
    make_events(1, email="old@example.com")  # goes out as new@
    html = (
        logged_in(client)
        .get(reverse("admin:integrations_event_customer", args=["new@example.com"]))
        .content.decode()
    )
    assert "moved here from" in html and "old@example.com" in html
    assert html.count("OrderPlaced") == 1


@pytest.mark.redis
def test_dashboard_renders_without_external_assets(client: Client) -> None:
    for event in make_events(3, status=Status.DELIVERED):
        Event.objects.filter(pk=event.pk).update(
            delivered_at=event.received_at + timedelta(seconds=2)
        )
    failed = make_events(1, status=Status.FAILED)[0]
    failed.attempt_set.create(
        number=1,
        started_at=failed.received_at,
        duration_ms=1,
        url="u",
        status_code=422,
        verdict="failed",
        error_class="HTTP 422",
    )
    html = logged_in(client).get(reverse("admin:integrations_event_dashboard")).content.decode()
    assert "Delivered per minute" in html and "<svg" in html and "HTTP 422" in html
    assert "p50 2.0 s" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_dashboard_status_lines_join_statuses_without_a_stray_dot(client: Client) -> None:
    make_events(2, status=Status.DELIVERED)
    make_events(1, status=Status.FAILED)  # a status in the middle of the order
    html = logged_in(client).get(reverse("admin:integrations_event_dashboard")).content.decode()
    [last_hour] = re.findall(r'<td class="seg-counts">(.*?)</td>', html)[:1]
    text = re.sub(r"<[^>]+>", "", last_hour)
    assert text == "delivered 2 &middot; failed 1"


def test_dashboard_says_just_now_under_a_minute(client: Client) -> None:
    failed = make_events(1, status=Status.FAILED)[0]
    failed.attempt_set.create(
        number=1,
        started_at=timezone.now() - timedelta(seconds=20),
        duration_ms=1,
        url="u",
        status_code=500,
        verdict="retry",
        error_class="HTTP 500",
    )
    make_events(1, status=Status.HELD)
    html = logged_in(client).get(reverse("admin:integrations_event_dashboard")).content.decode()
    assert "0\xa0minutes" not in html and "0 minutes" not in html
    assert re.search(r"<td title=\"[^\"]+ UTC\">just now</td>", html)  # the error, last seen
    assert "oldest just now" in html  # the held event


def test_dashboard_chart_has_a_time_axis(client: Client) -> None:
    html = logged_in(client).get(reverse("admin:integrations_event_dashboard")).content.decode()
    chart = html[html.index('id="per-minute"') :]
    assert chart.index(">-60 min<") < chart.index(">-30 min<") < chart.index(">now<")


def test_dashboard_counts_each_window_in_one_query(django_assert_num_queries: Any) -> None:
    now = timezone.now()
    ages = {
        Status.DELIVERED: timedelta(minutes=5),
        Status.FAILED: timedelta(hours=5),
        Status.HELD: timedelta(days=5),
    }
    for status, age in ages.items():
        for event in make_events(2, status=status):
            Event.objects.filter(pk=event.pk).update(received_at=now - age)
    old = make_events(1, status=Status.DELIVERED)[0]
    Event.objects.filter(pk=old.pk).update(received_at=now - timedelta(days=30))
    with django_assert_num_queries(1):
        counts = metrics.counts_by_window(now)
    assert {s: n for s, n in counts["last hour"].items() if n} == {"delivered": 2}
    assert {s: n for s, n in counts["last day"].items() if n} == {"delivered": 2, "failed": 2}
    assert {s: n for s, n in counts["last week"].items() if n} == {
        "delivered": 2,
        "failed": 2,
        "held": 2,
    }


@pytest.mark.redis
def test_retry_command_shares_the_action_code() -> None:
    make_events(5, status=Status.FAILED)
    make_events(2, email="bo@example.com", status=Status.FAILED)
    out = StringIO()
    call_command("seg_retry", "--email", "bo@example.com", stdout=out, stderr=StringIO())
    assert "Retried 2 failed events." in out.getvalue()
    assert StatusChange.objects.filter(cause="Retried by seg_retry.").count() == 2
    call_command("seg_retry", "--status", "failed", stdout=out, stderr=StringIO())
    assert not Event.objects.filter(status=Status.FAILED).exists()
