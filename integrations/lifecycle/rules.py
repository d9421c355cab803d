"""Suppression rules, matched at ingest; cached briefly per process."""

from __future__ import annotations

import time

from ..models import SuppressionRule

CACHE_SECONDS = 5.0

_cache: tuple[float, list[SuppressionRule]] = (0.0, [])


def active(fresh: bool = False) -> list[SuppressionRule]:
    """Enabled rules; a change in the admin reaches every process within CACHE_SECONDS,
    or at once with ``fresh`` (read now, one small query)."""
    global _cache
    loaded_at, rules = _cache
    if fresh or time.monotonic() - loaded_at > CACHE_SECONDS:
        rules = list(SuppressionRule.objects.filter(enabled=True))
        _cache = (time.monotonic(), rules)
    return rules


def forget() -> None:
    """Drop the cache (after a rule is saved in this process)."""
    global _cache
    _cache = (0.0, [])


def matching(email: str, seg_event: str) -> SuppressionRule | None:
    """The first enabled rule that catches this email and Seg event, if any."""
    for rule in active():
        if rule.matches(email, seg_event):
            return rule
    return None
