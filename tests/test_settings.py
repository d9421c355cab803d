"""The example project reads every Seg setting from the environment, typed as the app takes it."""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import pytest

from integrations import conf

from .conftest import WEBSITE_ID

SETTINGS = Path(__file__).resolve().parent.parent / "segproject" / "settings.py"

# Read as text; the others are numbers.
TEXT = [
    ("SEG_WEBSITE_ID", WEBSITE_ID, WEBSITE_ID),
    ("SEG_TRACKER_URL", "http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("SEG_WRITE_KEYS", "one, two,", ["one", "two"]),
    ("SEG_REDIS_URL", "redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/3"),
    ("SEG_BROWSER_WRITE_KEYS", "pk-1, pk-2", ["pk-1", "pk-2"]),
    ("SEG_ALLOWED_ORIGINS", "https://shop.example,", ["https://shop.example"]),
    ("SEG_PUBLIC_ORIGIN", "https://shop.example", "https://shop.example"),
    ("SEG_ANALYTICS_JS_PATH", "/srv/analytics.js", "/srv/analytics.js"),
    ("SEG_ANALYTICS_JS_URL", "https://cdn.shop/a.js", "https://cdn.shop/a.js"),
    ("SEG_CLIENT_IP_HEADER", "X-Forwarded-For", "X-Forwarded-For"),
    ("SEG_IDENTITY_SECRET", "s3cret", "s3cret"),
    ("SEG_ERASURE_KEY", "k3y", "k3y"),
    ("SEG_CONSENT_CATEGORIES", "C0004, Marketing", ["C0004", "Marketing"]),
    ("SEG_METRICS_TOKEN", "t0ken", "t0ken"),
    ("SEG_METRICS_ALLOWED_IPS", "10.0.0.0/8, ::1", ["10.0.0.0/8", "::1"]),
    ("SEG_READY_REQUIRES", "database,broker", ["database", "broker"]),
    ("SEG_WORKER_METRICS_BIND", "0.0.0.0:9808", "0.0.0.0:9808"),
    (
        "SEG_WEBSITES",
        f"key-a={WEBSITE_ID}, 2 = {WEBSITE_ID[::-1]}, shop.example={WEBSITE_ID},",
        {"key-a": WEBSITE_ID, 2: WEBSITE_ID[::-1], "shop.example": WEBSITE_ID},
    ),
]
# Unset, each of these keeps the app's default (None).
OPTIONAL_TEXT = [
    "SEG_PUBLIC_ORIGIN",
    "SEG_ANALYTICS_JS_URL",
    "SEG_CLIENT_IP_HEADER",
    "SEG_IDENTITY_SECRET",
    "SEG_ERASURE_KEY",
    "SEG_METRICS_TOKEN",
    "SEG_WORKER_METRICS_BIND",
]
# Read as on or off.
FLAGS = ["SEG_ORDER_PER_CUSTOMER", "SEG_TRACING", "SEG_IDENTIFY_STAFF"]
NUMBERS = sorted(set(conf.DEFAULTS) - {name for name, _, _ in TEXT} - set(FLAGS))
# Unset, each keeps the app's default, but for the two the app requires. Set
# but empty, so do the numbers and SEG_REDIS_URL (an empty SEG_TRACKER_URL is
# read as given, and the checks report it).
KEPT: list[tuple[str, dict[str, str]]] = [
    (name, {})
    for name in [
        *NUMBERS,
        *FLAGS,
        "SEG_TRACKER_URL",
        "SEG_REDIS_URL",
        "SEG_WEBSITES",
        *OPTIONAL_TEXT,
    ]
] + [
    (name, {name: ""})
    for name in [*NUMBERS, *FLAGS, "SEG_REDIS_URL", "SEG_WEBSITES", *OPTIONAL_TEXT]
]


def read_settings(monkeypatch: pytest.MonkeyPatch, **environ: str) -> dict[str, Any]:
    """The example project's settings module, run with only ``environ`` for SEG_*."""
    for name in list(os.environ):
        if name.startswith("SEG_"):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_is_read_as_the_app_takes_it(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # Counts are whole numbers; durations are seconds, fractions allowed.
    whole = isinstance(conf.DEFAULTS[name], int)
    value = read_settings(monkeypatch, **{name: "7" if whole else "0.5"})[name]
    assert (type(value), value) == ((int, 7) if whole else (float, 0.5))


def test_the_sweep_interval_is_read_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    read = read_settings(monkeypatch, SEG_SWEEP_INTERVAL="1")
    assert read["SEG_SWEEP_INTERVAL"] == 1.0
    assert read["CELERY_BEAT_SCHEDULE"]["seg-sweep"]["schedule"] == 1.0


def test_the_example_serves_the_analytics_js_that_npm_installs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = read_settings(monkeypatch)["SEG_ANALYTICS_JS_PATH"]
    assert path.endswith("node_modules/@segment/analytics-next/dist/umd/standalone.js")


@pytest.mark.parametrize("name", FLAGS)
@pytest.mark.parametrize(
    ("text", "value"), [("0", False), ("Off", False), ("no", False), ("1", True)]
)
def test_a_flag_is_read_as_on_or_off(
    monkeypatch: pytest.MonkeyPatch, name: str, text: str, value: bool
) -> None:
    assert read_settings(monkeypatch, **{name: text})[name] is value


@pytest.mark.parametrize(("name", "text", "value"), TEXT)
def test_text_is_read_as_given(
    monkeypatch: pytest.MonkeyPatch, name: str, text: str, value: Any
) -> None:
    assert read_settings(monkeypatch, **{name: text})[name] == value


@pytest.mark.parametrize(
    ("name", "environ"),
    KEPT,
    ids=[f"{name}-{'empty' if environ else 'unset'}" for name, environ in KEPT],
)
def test_unset_or_empty_keeps_the_apps_default(
    monkeypatch: pytest.MonkeyPatch, settings: Any, name: str, environ: dict[str, str]
) -> None:
    setattr(settings, name, read_settings(monkeypatch, **environ)[name])
    assert conf.get_setting(name) == conf.DEFAULTS[name]
