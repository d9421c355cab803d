"""What narrows and pages the events list: its filters, and a paginator that never
counts the whole table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

from .. import conf
from ..models import Status
from ..operating import WITHHELD_BY

COUNT_CAP = 10_000


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most ``cap`` + 1 rows, so a page never scans the whole table; the
    list says "more than ``cap``" past it."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        rows = cast(QuerySet[Any], self.object_list)
        return int(rows.order_by()[: self.cap + 1].count())


class ReceivedFilter(admin.SimpleListFilter):
    title = "received"
    parameter_name = "received"
    SPANS = {
        "1h": ("in the last hour", timedelta(hours=1)),
        "24h": ("in the last 24 hours", timedelta(days=1)),
        "7d": ("in the last 7 days", timedelta(days=7)),
        "30d": ("in the last 30 days", timedelta(days=30)),
        "older": ("more than 30 days ago", timedelta(days=30)),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.SPANS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value not in self.SPANS:
            return queryset
        since = timezone.now() - self.SPANS[value][1]
        if value == "older":
            return queryset.filter(received_at__lt=since)
        return queryset.filter(received_at__gte=since)


class WithheldFilter(admin.SimpleListFilter):
    """Withheld events, by who withheld them: the shop's integrations object, or the
    visitor's consent (their reason says which)."""

    title = "withheld by"
    parameter_name = "withheld_by"
    LABELS = {"integrations": "the integrations object", "consent": "consent"}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(self.LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        prefix = WITHHELD_BY.get(self.value() or "")
        if prefix is None:
            return queryset
        return queryset.filter(status=Status.WITHHELD, status_reason__startswith=prefix)


class HasErrorFilter(admin.SimpleListFilter):
    title = "has error"
    parameter_name = "has_error"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "yes":
            return queryset.exclude(last_error="")
        if self.value() == "no":
            return queryset.filter(last_error="")
        return queryset


class WebsiteFilter(admin.SimpleListFilter):
    """Events by the Seg website they go to; shown only with several (SEG_WEBSITES).
    SEG_WEBSITE_ID's take the events that name no website too."""

    title = "Seg website"
    parameter_name = "website"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        websites = conf.all_websites()
        return [(w, w) for w in websites] if len(websites) > 1 else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if not value:
            return queryset
        if value == conf.get_setting("SEG_WEBSITE_ID"):
            return queryset.filter(website__in=(value, ""))
        return queryset.filter(website=value)
