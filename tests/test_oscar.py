"""The django-oscar integration: analytics.js's cookie, the checks, and the Oscar shop's own run.

The shop (tests/oscar_project) needs settings of its own, so its tests run in
a pytest process of their own, on this run's database server and Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import RequestFactory

from integrations.contrib.oscar import checks, conf, visitor

from .conftest import ROOT

ID = "4b2d1c8e-7a1f-4a6e-9c3b-1f0e2d3c4b5a"


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        (f"%22{ID}%22", ID),  # analytics-next: JSON, then percent-encoded by js-cookie
        (f'"{ID}"', ID),  # JSON, not percent-encoded
        (ID, ID),  # bare, as older clients wrote it
        ("12345", "12345"),  # JSON.parse gives a number
        ("null", None),
        ("%22%22", None),
        ("", None),
        ("%7B%7D", None),  # an object is no id
        ("x" * 201, None),
    ],
)
def test_the_anonymous_id_is_read_as_analytics_js_writes_it(cookie: str, expected: Any) -> None:
    request = RequestFactory().get("/", HTTP_COOKIE=f"ajs_anonymous_id={cookie}")
    assert visitor.anonymous_id(request) == expected


def test_no_cookie_and_no_request_give_no_anonymous_id() -> None:
    assert visitor.anonymous_id(RequestFactory().get("/")) is None
    assert visitor.anonymous_id(None) is None


def test_the_context_leaves_out_what_a_partial_request_cannot_give() -> None:
    """No page URL without a host (a bare HttpRequest, a Host outside ALLOWED_HOSTS)."""
    assert visitor.context(HttpRequest()) == {}
    request = RequestFactory().get("/basket/", HTTP_HOST="shop.evil.example", HTTP_USER_AGENT="UA")
    assert visitor.context(request) == {"page": {"path": "/basket/"}, "userAgent": "UA"}
    request = RequestFactory().get("/basket/")
    assert visitor.context(request)["page"] == {
        "url": "http://testserver/basket/",
        "path": "/basket/",
    }


def test_each_receiver_is_on_until_left_out(settings: Any) -> None:
    assert all(conf.enabled(name) for name in conf.RECEIVERS)
    settings.SEG_OSCAR_SIGNALS = ["order_placed"]
    assert conf.enabled("order_placed") and not conf.enabled("product_viewed")
    assert checks.check_signals() == []


def test_an_unknown_receiver_name_is_an_error(settings: Any) -> None:
    settings.SEG_OSCAR_SIGNALS = ["order_placed", "product_view"]
    (error,) = checks.check_signals()
    assert error.id == "seg_oscar.E001" and "product_view" in error.msg
    settings.SEG_OSCAR_SIGNALS = "order_placed"  # a string, not a list of names
    assert [e.id for e in checks.check_signals()] == ["seg_oscar.E001"]


def test_the_order_wants_the_middleware_and_atomic_requests(settings: Any) -> None:
    # The example project has neither; the Oscar shop has both (its run checks).
    ids = [m.id for m in checks.check_middleware() + checks.check_atomic_requests()]
    assert ids == ["seg_oscar.W001", "seg_oscar.W002"]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, checks.MIDDLEWARE]
    assert checks.check_middleware() == []
    settings.SEG_OSCAR_SIGNALS = ["product_viewed"]
    assert checks.check_middleware() + checks.check_atomic_requests() == []


@pytest.mark.redis
def test_the_oscar_shop() -> None:
    """tests/oscar_project/shop_tests.py, under the shop's settings, passes."""
    command = [sys.executable, "-m", "pytest", "tests/oscar_project/shop_tests.py"]
    # The schema straight from the models: Oscar's hundred-odd migrations add
    # minutes and nothing this test is about.
    command += ["--ds", "tests.oscar_project.settings", "--nomigrations", "-p", "no:cacheprovider"]
    command += ["-q", "-ra"]
    run = subprocess.run(
        command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
