"""Headless Chromium for the browser tests: Debian's ``chromium``, driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# analytics.js from the pinned npm package (scripts/setup.sh runs npm ci).
STANDALONE = ROOT / "node_modules/@segment/analytics-next/dist/umd/standalone.js"


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A Chromium browser; skipped without one, failed without one under SEG_REQUIRE_BROWSER."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("SEG_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium is required and missing at {CHROMIUM}")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # the test makes between page actions are plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                # This machine's network is closed: no calls home at start.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def require_analytics_js() -> None:
    """Fail the test when analytics.js is not installed (npm ci)."""
    if not STANDALONE.is_file():
        pytest.fail("analytics.js is not installed: run npm ci (scripts/test.sh does)")
