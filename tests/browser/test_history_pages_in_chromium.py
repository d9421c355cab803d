"""The pages of a shop's history and of its customers' erasure in headless Chromium, at
1024 px and 1440 px, light and dark: a backfill run's progress, counts (suppressed among
them), window and kept errors; an erasure request's counts and the step left to do at
Seg. Nothing is clipped. Screenshots go to test-artifacts/operator/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User

from integrations import api
from integrations.models import BackfillRun

from .test_operator_in_chromium import PASSWORD, SCHEMES, SHOTS, WIDTHS, fits, log_in, shot

REFUSED = "'event' must be a non-empty string"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_backfill_run_and_an_erasure_request_in_the_admin(
    live_server: Any, chromium: Any
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    run = BackfillRun.objects.create(
        kind=BackfillRun.Kind.JSONL,
        path="/srv/exports/segment-2024.jsonl",
        until=datetime(2025, 3, 1, tzinfo=UTC),
        total=12_501,
        done=6_000,
        stored=5_890,
        repeated=80,
        invalid=12,
        suppressed=18,
        rate=50,
        errors=[{"where": f"line {n}", "error": REFUSED} for n in (3, 9)],
    )
    api.identify("u-gone", {"email": "gone@example.com"})
    erased = api.erase(email="gone@example.com", suppress=True, by="dpo@shop")
    for width in WIDTHS:
        for scheme in SCHEMES:
            page = log_in(chromium, live_server.url, width, scheme)
            page.goto(f"{live_server.url}/admin/integrations/backfillrun/{run.pk}/change/")
            text = page.inner_text("#content")
            for shown in ("6000 of 12501", "18", "line 9", "--until", "2025-03-01"):
                assert shown in text, shown
            assert fits(page, "#content-main")
            shot(page, "backfill-run", width, scheme)
            page.goto(f"{live_server.url}/admin/integrations/backfillrun/")
            assert "segment-2024.jsonl" in page.inner_text("#result_list")
            shot(page, "backfill-runs", width, scheme)
            page.goto(f"{live_server.url}/admin/integrations/erasurerequest/{erased.pk}/change/")
            text = page.inner_text("#content")
            assert "dpo@shop" in text and "gone@example.com" not in text
            assert "still to do" in text  # Seg publishes no deletion API: ask, then mark
            assert fits(page, "#content-main")
            shot(page, "erasure-request", width, scheme)
            page.context.close()
