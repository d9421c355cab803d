"""System checks: each misconfiguration gives its own check, with a hint; a good one gives none."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery._state import get_current_app
from django.core import checks

from integrations import tasks
from integrations.checks import configuration as seg_checks
from integrations.checks import workers as celery_checks
from integrations.core import names as dispatch

from .conftest import WEBSITE_ID

assert tasks  # the app's tasks, registered: a new Celery app takes them in

# Stands for a setting left out of settings.py, so the app's default applies.
UNSET = object()

GOOD: dict[str, Any] = {
    "SEG_WEBSITE_ID": WEBSITE_ID,
    "SEG_WRITE_KEYS": ["key"],
    "SEG_TRACKER_URL": "https://tracker.segapp.com",
    "DEBUG": False,
    "SEG_BROWSER_WRITE_KEYS": ["page-key"],
    "SEG_ANALYTICS_JS_PATH": __file__,
}

# Each check id, the change to the good configuration that gives it, and a
# fragment of its message and of its hint.
BAD: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("integrations.E001", {"SEG_WEBSITE_ID": UNSET}, "SEG_WEBSITE_ID is not set", "Website Id"),
    ("integrations.E001", {"SEG_WEBSITE_ID": ""}, "SEG_WEBSITE_ID is not set", "Website Id"),
    ("integrations.E002", {"SEG_WEBSITE_ID": "my-store"}, "'my-store' is not a GUID", "exactly"),
    ("integrations.E002", {"SEG_WEBSITE_ID": WEBSITE_ID + "0"}, "is not a GUID", "exactly"),
    ("integrations.E002", {"SEG_WEBSITE_ID": 12345}, "12345 is not a GUID", "exactly"),
    ("integrations.E003", {"SEG_WRITE_KEYS": UNSET}, "SEG_WRITE_KEYS is empty", "comma-separated"),
    ("integrations.E003", {"SEG_WRITE_KEYS": ""}, "would get 401", "each Segment source"),
    ("integrations.E003", {"SEG_WRITE_KEYS": " , "}, "SEG_WRITE_KEYS is empty", "secret keys"),
    ("integrations.E003", {"SEG_WRITE_KEYS": ["", "  "]}, "SEG_WRITE_KEYS is empty", "secret"),
    ("integrations.E004", {"SEG_TRACKER_URL": "tracker.segapp.com"}, "not an http(s) URL", "unset"),
    ("integrations.E004", {"SEG_TRACKER_URL": "ftp://segapp.com"}, "not an http(s) URL", "unset"),
    ("integrations.E004", {"SEG_TRACKER_URL": "https://"}, "not an http(s) URL", "unset"),
    (
        "integrations.W001",
        {"SEG_TRACKER_URL": "http://tracker.segapp.com"},
        "is not https, and DEBUG is off",
        "unencrypted",
    ),
    # E005 has no hint: its message names the setting and the types it takes.
    ("integrations.E005", {"SEG_LEASE": "60"}, "SEG_LEASE must be a timedelta", None),
    ("integrations.E005", {"SEG_LEASE": True}, "or a number of seconds, not True", None),
    ("integrations.E005", {"SEG_RETRY_WINDOW": "4h"}, "SEG_RETRY_WINDOW must be", None),
    ("integrations.E006", {"SEG_LEASE": 20}, "SEG_LEASE (20s) is not longer", "raise SEG_LEASE"),
    (
        "integrations.E006",
        {"SEG_LEASE": timedelta(seconds=10)},
        "(SEG_CONNECT_TIMEOUT + SEG_READ_TIMEOUT = 20s)",
        "still in flight",
    ),
    ("integrations.E006", {"SEG_READ_TIMEOUT": 58.5}, "= 63.5s", "raise SEG_LEASE"),
    (
        "integrations.E006",
        {"SEG_POST_DEADLINE": 60},
        "(SEG_POST_DEADLINE = 60s)",
        "lower SEG_POST_DEADLINE",
    ),
    ("integrations.E005", {"SEG_POST_DEADLINE": "20"}, "SEG_POST_DEADLINE must be", None),
    (
        "integrations.W002",
        {"CELERY_BROKER_TRANSPORT_OPTIONS": UNSET},
        "retries the broker connection",
        '"max_retries": 0',
    ),
    (
        "integrations.W002",
        {"CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 7200, "max_retries": 3}},
        "a shop's request would wait",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
    ),
    (
        "integrations.W006",
        {"CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 7200, "max_retries": 0}},
        "queue_order_strategy is 'round_robin'",
        "-Q seg,seg_browser",
    ),
    ("integrations.E101", {"SEG_BROWSER_WRITE_KEYS": ["key"]}, "in both", "secret"),
    (
        "integrations.E102",
        {"SEG_ALLOWED_ORIGINS": ["https://shop.example/shop"]},
        "is not an origin",
        "no path",
    ),
    ("integrations.E102", {"SEG_ALLOWED_ORIGINS": "*"}, "'*'", "every origin"),
    ("integrations.E103", {"SEG_PUBLIC_ORIGIN": "shop.example"}, "not an origin", "https://"),
    ("integrations.E104", {"SEG_BROWSER_BURST": 0}, "SEG_BROWSER_BURST (0)", "turns the limit off"),
    ("integrations.E104", {"SEG_BROWSER_RATE_LIMIT": -1}, "a number >= 0", "20 messages"),
    (
        "integrations.E105",
        {"SEG_METRICS_ALLOWED_IPS": ["10.0.0.0/8", "shop.internal", "10.0.0.300"]},
        "'shop.internal', '10.0.0.300'",
        "10.0.0.0/8",
    ),
    ("integrations.W101", {"SEG_ANALYTICS_JS_PATH": "/nowhere.js"}, "is not a file", "npm ci"),
    (
        "integrations.W102",
        {"SEG_ANALYTICS_JS_PATH": UNSET},
        "analytics.js is not",
        "SEG_ANALYTICS_JS_URL",
    ),
    (
        "integrations.W103",
        {"TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates"}]},
        "request context processor",
        "context_processors",
    ),
]

BAD.append(
    ("integrations.E008", {"CELERY_BROKER_URL": UNSET}, "has no broker URL", "CELERY_BROKER_URL")
)

# Good configurations beside each bad one: no check speaks.
ALSO_GOOD: list[dict[str, Any]] = [
    {},
    {"SEG_WEBSITE_ID": WEBSITE_ID.upper()},
    {"SEG_WRITE_KEYS": "one, two"},
    {"SEG_WRITE_KEYS": ("one",)},
    {"SEG_TRACKER_URL": UNSET},
    {"SEG_TRACKER_URL": "https://tracker.segapp.com/"},
    {"SEG_TRACKER_URL": "http://127.0.0.1:8765", "DEBUG": True},
    {"SEG_LEASE": 21},
    {"SEG_LEASE": 20.5},
    {"SEG_LEASE": timedelta(minutes=2), "SEG_RETRY_WINDOW": 3600},
    {"SEG_CONNECT_TIMEOUT": 1, "SEG_READ_TIMEOUT": 2.5, "SEG_LEASE": 4},
    {"SEG_READ_TIMEOUT": 50, "SEG_POST_DEADLINE": timedelta(seconds=30)},
    {"CELERY_BROKER_TRANSPORT_OPTIONS": {"max_retries": 0, "queue_order_strategy": "priority"}},
    {"SEG_BROWSER_WRITE_KEYS": UNSET, "SEG_ANALYTICS_JS_PATH": UNSET},
    {"SEG_ANALYTICS_JS_PATH": UNSET, "SEG_ANALYTICS_JS_URL": "https://cdn.shop.example/a.js"},
    {"SEG_ALLOWED_ORIGINS": "https://shop.example, http://127.0.0.1:8000/"},
    {"SEG_PUBLIC_ORIGIN": "https://shop.example:8443", "SEG_BROWSER_RATE_LIMIT": 0},
]


def configure(settings: Any, changes: dict[str, Any]) -> None:
    for name, value in (GOOD | changes).items():
        if value is UNSET:
            if hasattr(settings, name):
                delattr(settings, name)
        else:
            setattr(settings, name, value)


def run() -> list[checks.CheckMessage]:
    return checks.run_checks(tags=["integrations"])


@pytest.mark.parametrize(("check_id", "changes", "message", "hint"), BAD)
def test_each_misconfiguration_gives_its_check_and_hint(
    settings: Any, check_id: str, changes: dict[str, Any], message: str, hint: str | None
) -> None:
    configure(settings, changes)
    [found] = run()
    assert found.id == check_id
    assert found.level == (
        checks.WARNING if check_id.startswith("integrations.W") else checks.ERROR
    )
    assert message in found.msg
    if hint is None:
        assert found.hint is None
    else:
        assert hint in found.hint


@pytest.mark.parametrize("changes", ALSO_GOOD)
def test_a_good_configuration_gives_no_check(settings: Any, changes: dict[str, Any]) -> None:
    configure(settings, changes)
    assert run() == []


def shop_app(**conf: Any) -> Celery:
    """A Celery app as a shop makes one, not made current: the app's tasks join it."""
    app = Celery("shop", set_as_current=False)
    app.conf.update(broker_url="redis://127.0.0.1:6379/0", **conf)
    return app


# Each Celery app and the checks it gives (the example project's app gives none).
APPS: list[tuple[str, Callable[[], Celery], list[str], str, str]] = [
    (
        "Celery's own fallback: the shop's app module was never imported",
        lambda: Celery("default", fixups=[], set_as_current=False),
        ["integrations.E007"],
        "No Celery app is loaded",
        "from .celery import app as celery_app",
    ),
    (
        "an app that was never configured",
        lambda: Celery("shop", set_as_current=False),
        ["integrations.E008"],
        "'shop' has no broker URL",
        'namespace="CELERY"',
    ),
    (
        "late acks annotated off",
        lambda: shop_app(task_annotations={dispatch.DELIVER_EVENTS: {"acks_late": False}}),
        ["integrations.W003"],
        "Late acks are off for integrations.deliver_events",
        "CELERY_TASK_ACKS_LATE",
    ),
    (
        "reject on worker lost annotated off",
        lambda: shop_app(
            task_annotations={"*": {"reject_on_worker_lost": False, "acks_late": False}}
        ),
        ["integrations.W003", "integrations.W004"],
        "integrations.deliver_event, integrations.deliver_events, integrations.fan_out",
        "do not annotate",
    ),
]


@pytest.mark.parametrize(("case", "make", "ids", "message", "hint"), APPS)
def test_a_celery_app_that_would_not_carry_the_tasks_is_reported(
    case: str, make: Callable[[], Celery], ids: list[str], message: str, hint: str
) -> None:
    found = celery_checks.celery_app_messages(make())
    assert [m.id for m in found] == ids
    assert message in found[-1].msg
    assert hint in found[-1].hint


def test_the_example_projects_celery_app_gives_no_check() -> None:
    assert celery_checks.celery_app_messages(get_current_app()) == []
    assert celery_checks.celery_app_messages(shop_app()) == []


def test_the_checked_task_names_are_the_ones_dispatch_publishes() -> None:
    assert set(celery_checks.DELIVERY_TASKS) == {
        dispatch.DELIVER_EVENT,
        dispatch.DELIVER_EVENTS,
        dispatch.FAN_OUT,
    }


def test_every_check_id_in_the_module_is_tested() -> None:
    # run_checks(tags=["integrations"]) found each in BAD: ready() registered them all.
    source = Path(seg_checks.__file__).read_text() + Path(celery_checks.__file__).read_text()
    tested = {case[0] for case in BAD} | {i for case in APPS for i in case[2]}
    tested |= {"integrations.W005"}  # tests/test_health.py
    assert set(re.findall(r"integrations\.[EW]\d{3}", source)) == tested
