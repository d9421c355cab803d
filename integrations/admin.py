"""The operator's admin: every event and what became of it, and the means to act.

Lists stay fast at a million rows: no full COUNT(*), filters with fixed
choices, and an index behind each. Actions are set-based and each is guarded
by its own permission.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from . import charts, metrics, operations, outbox, rules, throttle, tracker
from .identity import identity_chain
from .models import Alias, Attempt, Event, Identity, StatusChange, SuppressionRule

COUNT_CAP = 10_000


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most COUNT_CAP + 1 rows, so a page never scans the whole table."""

    @cached_property
    def count(self) -> int:
        rows = cast(QuerySet[Any], self.object_list)
        return int(rows.order_by()[: COUNT_CAP + 1].count())


def pretty_json(value: Any) -> SafeString:
    """JSON indented for reading; format_html escapes it."""
    return format_html(
        '<pre class="seg-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False)
    )


def status_badge(status: str, label: str | None = None) -> SafeString:
    colour = charts.STATUS_COLOURS.get(status, "#6b7280")
    return format_html(
        '<span class="seg-badge" style="background:{};color:#fff;padding:1px 8px;'
        'border-radius:9px;font-size:11px;white-space:nowrap">{}</span>',
        colour,
        label or status,
    )


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


class SuppressForm(forms.Form):
    reason = forms.CharField(
        max_length=400,
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
        help_text="Shown on every event suppressed, and in the admin log.",
    )


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("received", "who", "what", "badge", "attempts", "next_attempt_at")
    list_display_links = ("received",)
    list_filter = ("status", "call_type", "seg_event", HasErrorFilter, ReceivedFilter, "rule")
    search_fields = ("=email", "=message_id", "=order_id", "=user_id")
    search_help_text = "An exact email, messageId, order id or userId."
    paginator = CappedPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ("retry_events", "replay_events", "suppress_events", "unsuppress_events")
    change_form_template = "admin/integrations/event/change_form.html"
    change_list_template = "admin/integrations/event/change_list.html"

    # --- the list -------------------------------------------------------
    @admin.display(description="when", ordering="-received_at")
    def received(self, obj: Event) -> str:
        return timezone.localtime(obj.received_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="who")
    def who(self, obj: Event) -> SafeString:
        if not obj.email:
            return format_html('<span style="color:{}">anonymous</span>', "#6b7280")
        url = reverse("admin:integrations_event_customer", args=[obj.email])
        return format_html('<a href="{}">{}</a>', url, obj.email)

    @admin.display(description="what")
    def what(self, obj: Event) -> SafeString:
        name = obj.name or obj.call_type
        if obj.seg_event or obj.action:
            return format_html("{} &rarr; <b>{}</b>", name, obj.seg_event or obj.action)
        return format_html("{}", name)

    @admin.display(description="status", ordering="status")
    def badge(self, obj: Event) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Exact matches on indexed columns; the admin's own "=" is iexact, a table scan.

        Emails are stored lower-cased, so an operator may paste one as they see it.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(message_id=term) | Q(order_id=term) | Q(user_id=term) | Q(email=term.lower())
        return queryset.filter(match), False

    # --- permissions: the record is read-only -----------------------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.retry_event")

    def has_suppress_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.suppress_event")

    # --- actions ----------------------------------------------------------
    def _done(self, request: HttpRequest, verb: str, changed: int, selected: int) -> None:
        LogEntry.objects.create(
            user_id=cast(int, request.user.pk),
            content_type_id=ContentType.objects.get_for_model(Event).pk,
            object_id=None,
            object_repr=f"{changed} events",
            action_flag=CHANGE,
            change_message=f"{verb} {changed} of {selected} selected events.",
        )
        message = ngettext("%(verb)s %(count)d event.", "%(verb)s %(count)d events.", changed) % {
            "verb": verb,
            "count": changed,
        }
        if changed < selected:
            message += f" {selected - changed} selected were not in a state that allows it."
        self.message_user(request, message, messages.SUCCESS if changed else messages.WARNING)

    def _selected(self, queryset: QuerySet[Any]) -> int:
        return int(queryset.order_by()[: COUNT_CAP * 100].count())

    @admin.action(
        description="Retry delivery of selected failed or expired events", permissions=["retry"]
    )
    def retry_events(self, request: HttpRequest, queryset: Any) -> None:
        changed = operations.retry(queryset, str(request.user))
        self._done(request, "Retried", changed, self._selected(queryset))
        if changed:
            outbox.sweep()

    @admin.action(description="Replay selected delivered events", permissions=["retry"])
    def replay_events(self, request: HttpRequest, queryset: Any) -> None:
        changed = operations.replay(queryset, str(request.user))
        self._done(request, "Replayed", changed, self._selected(queryset))
        if changed:
            outbox.sweep()

    @admin.action(
        description="Suppress selected events (asks for a reason)", permissions=["suppress"]
    )
    def suppress_events(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        form = SuppressForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            selected = self._selected(queryset)
            changed = operations.suppress(queryset, str(request.user), reason)
            self._done(request, "Suppressed", changed, selected)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Suppress events",
            "opts": self.model._meta,
            "form": form,
            "count": self._selected(queryset),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "suppress_events",
        }
        return TemplateResponse(request, "admin/integrations/event/suppress.html", context)

    @admin.action(
        description="Unsuppress selected events (back to pending)", permissions=["suppress"]
    )
    def unsuppress_events(self, request: HttpRequest, queryset: Any) -> None:
        selected = self._selected(queryset)
        changed = operations.unsuppress(queryset, str(request.user))
        self._done(request, "Unsuppressed", changed, selected)

    # --- one event --------------------------------------------------------
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("status_badge_field", "status_reason"),
                    ("call_type", "name", "seg_event", "action"),
                    ("email", "user_id", "anonymous_id", "order_id"),
                    ("message_id", "rule"),
                    ("timestamp", "received_at", "delivered_at"),
                    ("attempts", "next_attempt_at", "first_attempt_at"),
                    "last_error",
                )
            },
        ),
    )
    readonly_fields = (
        "status_badge_field",
        "status_reason",
        "call_type",
        "name",
        "seg_event",
        "action",
        "email",
        "user_id",
        "anonymous_id",
        "order_id",
        "message_id",
        "rule",
        "timestamp",
        "received_at",
        "delivered_at",
        "attempts",
        "next_attempt_at",
        "first_attempt_at",
        "last_error",
    )

    @admin.display(description="status")
    def status_badge_field(self, obj: Event) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        event = Event.objects.filter(pk=object_id).select_related("rule").first()
        context = dict(extra_context or {})
        if event is not None:
            context.update(self.event_context(event))
        return super().change_view(request, object_id, form_url, context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        return (
            Event.objects.filter(pk=object_id).select_related("rule").first()
            if object_id.isdigit()
            else None
        )

    @staticmethod
    def event_context(event: Event) -> dict[str, Any]:
        attempts = list(Attempt.objects.filter(event=event).order_by("number", "id"))
        changes = list(StatusChange.objects.filter(event=event))
        timeline: list[tuple[Any, str, str]] = [
            (event.received_at, event.ingest_status, "Received and stored.")
        ]
        for attempt in attempts:
            answer = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error_class
            then = {"delivered": "delivered", "retry": "pending", "failed": "failed"}[
                attempt.verdict
            ]
            note = f"Attempt {attempt.number}: {answer} in {attempt.duration_ms:.0f} ms"
            if attempt.retry_at:
                note += f"; retry due {timezone.localtime(attempt.retry_at):%H:%M:%S}"
            timeline.append((attempt.started_at, then, note + "."))
        timeline += [(c.at, c.status, c.cause) for c in changes]
        timeline.sort(key=lambda item: item[0])
        return {
            "event": event,
            "sent": pretty_json(event.message),
            "payload": pretty_json(event.payload) if event.payload is not None else None,
            "seg_url": tracker.endpoint(event.action) if event.action else None,
            "attempts": attempts,
            "timeline": [(at, status_badge(status), cause) for at, status, cause in timeline],
            "chain": identity_chain(event),
        }

    # --- extra pages --------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="integrations_event_dashboard",
            ),
            path(
                "customer/<path:email>/",
                self.admin_site.admin_view(self.customer_view),
                name="integrations_event_customer",
            ),
        ]
        return extra + super().get_urls()

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        per_minute = metrics.delivered_per_minute(now)
        windows = [
            (label, counts, charts.stacked(counts))
            for label, counts in metrics.counts_by_window(now).items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Delivery to Seg",
            "opts": self.model._meta,
            "windows": windows,
            "per_minute_chart": charts.bars(per_minute),
            "delivered_last_hour": sum(n for _, n in per_minute),
            "latency": {
                f"p{int(point * 100)}": seconds(value)
                for point, value in metrics.latency_percentiles(now - timedelta(days=1)).items()
            },
            "errors": metrics.top_errors(now - timedelta(days=1)),
            "oldest_pending": metrics.oldest_pending(),
            "held": metrics.held_summary(),
            "colours": charts.STATUS_COLOURS,
            "circuit_open": throttle.is_open(),
        }
        return TemplateResponse(request, "admin/integrations/event/dashboard.html", context)

    def customer_view(self, request: HttpRequest, email: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        email = email.strip().lower()
        events = list(
            Event.objects.filter(email=email)
            .order_by("timestamp", "id")
            .only(
                "pk",
                "timestamp",
                "call_type",
                "name",
                "seg_event",
                "action",
                "status",
                "attempts",
                "order_id",
            )[:500]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Customer {email}",
            "opts": self.model._meta,
            "email": email,
            "events": [(e, status_badge(e.status, e.get_status_display())) for e in events],
            "aliases_from": Alias.objects.filter(previous_email=email),
            "aliases_to": Alias.objects.filter(email=email),
            "identities": Identity.objects.filter(email=email)[:100],
        }
        return TemplateResponse(request, "admin/integrations/event/customer.html", context)


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


@admin.register(SuppressionRule)
class SuppressionRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "reason", "enabled", "caught", "created_by", "created_at")
    list_filter = ("enabled", "seg_event")
    search_fields = ("=email",)
    readonly_fields = ("created_by", "created_at")
    fields = ("email", "seg_event", "reason", "enabled", "created_by", "created_at")

    @admin.display(description="events caught")
    def caught(self, obj: SuppressionRule) -> SafeString:
        url = reverse("admin:integrations_event_changelist") + f"?rule__id__exact={obj.pk}"
        return format_html('<a href="{}">events</a>', url)

    def save_model(
        self, request: HttpRequest, obj: SuppressionRule, form: Any, change: bool
    ) -> None:
        if obj.email:
            obj.email = obj.email.strip().lower()
        if not change:
            obj.created_by = str(request.user)
        super().save_model(request, obj, form, change)
        rules.forget()


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("kind", "value", "email", "user_id", "updated_at")
    list_filter = ("kind",)
    search_fields = ("=value", "=email", "=user_id")


@admin.register(Alias)
class AliasAdmin(ReadOnlyAdmin):
    list_display = ("previous_email", "email", "created_at", "message_id")
    search_fields = ("=previous_email", "=email")
