"""The dashboard's SVG charts, read as markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from integrations.operating import charts

START = datetime(2026, 11, 29, 13, 2, tzinfo=UTC)


def test_per_minute_bars_have_a_time_axis_from_an_hour_ago_to_now() -> None:
    series = [(START + timedelta(minutes=i), 0) for i in range(60)]
    series[59] = (series[59][0], 7)
    svg = charts.bars(series)
    assert re.findall(r"<text[^>]*>([^<]*)</text>", svg) == [
        "max 7/min",
        "-60 min",
        "-45 min",
        "-30 min",
        "-15 min",
        "now",
    ]
    assert '<rect x="59.1" y="0" width="0.8" height="7"' in svg
    assert "<title>2026-11-29 14:01:00 UTC: 7 delivered</title>" in svg


def test_status_bar_splits_by_status() -> None:
    svg = charts.stacked({"pending": 0, "delivered": 3, "failed": 1})
    assert re.findall(r'<rect x="(\d+)" y="0" width="(\d+)"[^>]*class="([^"]+)"', svg) == [
        ("0", "3", "seg-status-delivered"),
        ("3", "1", "seg-status-failed"),
    ]
    assert 'viewBox="0 0 4 1"' in svg
