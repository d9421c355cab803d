"""How the admin shows a value: status badges, JSON, moments, durations."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db import models
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import operating


def pretty_json(value: Any) -> SafeString:
    """JSON indented for reading; format_html escapes it."""
    return format_html(
        '<pre class="seg-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False)
    )


def status_badge(status: str, label: str | None = None) -> SafeString:
    """The status as a coloured label; admin.css holds the colours."""
    return format_html('<span class="seg-badge seg-status-{}">{}</span>', status, label or status)


def moment(
    model: type[models.Model], name: str, description: str = "", ordering: str = ""
) -> Callable[[admin.ModelAdmin[Any], Any], str]:
    """A ModelAdmin display method showing the datetime field ``name`` as
    ``operating.shown`` writes it, sortable by it, labelled with the field's verbose
    name unless ``description`` is given. Use it as a class attribute."""

    def show(model_admin: admin.ModelAdmin[Any], obj: Any) -> str:
        value = getattr(obj, name)
        if value is None:
            return model_admin.get_empty_value_display()
        # A narrow list may break a moment between its date and its time, nowhere else.
        date, _, rest = operating.shown(value).partition(" ")
        return format_html('{} <span class="seg-nowrap">{}</span>', date, rest)

    label = description or str(getattr(model._meta.get_field(name), "verbose_name", name))
    return admin.display(description=label, ordering=ordering or name)(show)


def seconds(value: timedelta | None) -> str:
    """A duration as an operator reads it: '1.2 s', '3 min', '2.5 h'."""
    if value is None:
        return "none"
    total = value.total_seconds()
    if total < 120:
        return f"{total:.1f} s"
    if total < 7200:
        return f"{total / 60:.0f} min"
    return f"{total / 3600:.1f} h"


def first_attempt(event: Any) -> str | None:
    """The event's first attempt ever (its first Attempt row), as ``operating.shown``
    writes it; a retry or replay starts a new round, whose own first attempt (from which
    its retry window runs) follows in brackets. None before any attempt."""
    first = event.attempt_set.order_by("started_at", "id").values_list("started_at", flat=True)
    real = first.first()
    if real is None:
        return None
    text = operating.shown(real)
    this_round = event.first_attempt_at
    if this_round is not None and this_round > real:
        text += f" (this round from {operating.shown(this_round)})"
    return text
