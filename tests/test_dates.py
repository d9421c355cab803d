"""How moments are written for operators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from integrations.operating import ago, shown

NOW = datetime(2026, 11, 29, 14, 1, 34, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "said"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-5), "just now"),  # a clock a little ahead
        (timedelta(minutes=1), "1\xa0minute ago"),
        (timedelta(hours=2, minutes=3, seconds=4), "2\xa0hours, 3\xa0minutes ago"),
    ],
)
def test_ago(before: timedelta, said: str) -> None:
    assert ago(NOW - before, NOW) == said


@pytest.mark.parametrize(
    ("zone", "written"),
    [
        ("UTC", "2026-11-29 14:01:34 UTC"),
        ("Europe/Paris", "2026-11-29 15:01:34 CET"),
        ("America/New_York", "2026-11-29 09:01:34 EST"),
    ],
)
def test_shown_names_the_time_zone(zone: str, written: str) -> None:
    with timezone.override(zone):
        assert shown(NOW) == written
