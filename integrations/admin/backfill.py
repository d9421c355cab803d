"""The backfill runs' page: each run's progress, its pace, and the items it refused (read-only)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import OUTSTANDING, BackfillRun, Event, LiveSince, Source
from .display import moment
from .records import ReadOnlyAdmin

# A run whose cursor has not moved for this long, and that never finished, was stopped.
STALLED = timedelta(minutes=2)


@admin.register(BackfillRun)
class BackfillRunAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "state_shown",
        "progress",
        "stored",
        "repeated",
        "invalid",
        "suppressed",
        "started",
        "last_progress",
    )
    list_filter = ("kind", "state")
    fields = (
        "kind",
        "path",
        "since",
        "until_shown",
        "state_shown",
        "progress",
        "stored",
        "repeated",
        "invalid",
        "suppressed",
        "rate",
        "events",
        "cursor",
        "started_at",
        "updated_at",
        "finished_at",
        "errors_shown",
    )
    readonly_fields = fields
    started = moment(BackfillRun, "started_at")
    last_progress = moment(BackfillRun, "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[BackfillRun]:
        return super().get_queryset(request).defer("errors")

    @admin.display(description="until")
    def until_shown(self, obj: BackfillRun) -> str:
        if obj.until is None:  # the server had sent nothing, or the run was made so
            return "Items of every date: no --until."
        # Read, never recorded here: a page's GET writes nothing.
        live = LiveSince.objects.filter(pk=1).values_list("at", flat=True).first()
        return BackfillRun.window(obj.until, given=obj.until != live)

    @admin.display(description="state")
    def state_shown(self, obj: BackfillRun) -> str:
        if obj.state == BackfillRun.State.RUNNING and timezone.now() - obj.updated_at > STALLED:
            return "stopped: run the same command again to resume"
        return str(obj.get_state_display())

    @admin.display(description="progress")
    def progress(self, obj: BackfillRun) -> SafeString:
        share = min(100, round(100 * obj.done / obj.total)) if obj.total else 100
        return format_html(
            '<progress max="100" value="{}"></progress> {} of {} ({}%)',
            share,
            obj.done,
            obj.total,
            share,
        )

    @admin.display(description="on their way")
    def events(self, obj: BackfillRun) -> str:
        waiting = Event.objects.filter(source=Source.BACKFILL, status__in=OUTSTANDING)
        return f"{waiting.count()} backfilled event(s) of every run still on their way to Seg"

    @admin.display(description="refused items")
    def errors_shown(self, obj: BackfillRun) -> SafeString:
        if not obj.errors:
            return format_html("{}", "none")
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((e["where"], e["error"]) for e in obj.errors)
        )
        more = obj.invalid - len(obj.errors)
        tail = format_html("<p>and {} more, not kept</p>", more) if more > 0 else ""
        return format_html("<table><tr><th>where</th><th>why</th></tr>{}</table>{}", rows, tail)

    def has_delete_permission(self, request: HttpRequest, obj: BackfillRun | None = None) -> bool:
        return False
