"""The operator's admin: events with their attempts, identities and aliases."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from .models import Alias, Attempt, Event, Identity


def pretty_json(value: Any) -> str:
    """JSON indented for reading, escaped for HTML."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What the shop sent and what Seg answered are records, not forms."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Attempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "duration_ms",
        "url",
        "status_code",
        "verdict",
        "error_class",
        "response_excerpt",
        "retry_at",
    )
    readonly_fields = fields
    ordering = ("number", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "who",
        "name",
        "seg_event",
        "status",
        "attempts",
        "next_attempt_at",
    )
    list_filter = ("status", "call_type", "seg_event")
    search_fields = ("=email", "=message_id", "=order_id", "=user_id")
    date_hierarchy = "received_at"
    show_full_result_count = False
    list_per_page = 50
    inlines = (AttemptInline,)
    readonly_fields = (
        "message_id",
        "call_type",
        "name",
        "status",
        "status_reason",
        "email",
        "user_id",
        "anonymous_id",
        "order_id",
        "action",
        "seg_event",
        "attempts",
        "next_attempt_at",
        "first_attempt_at",
        "enqueued_at",
        "last_error",
        "timestamp",
        "received_at",
        "delivered_at",
        "updated_at",
        "message_pretty",
        "payload_pretty",
        "warnings",
    )
    exclude = ("message", "payload")

    @admin.display(description="who", ordering="email")
    def who(self, obj: Event) -> str:
        return obj.email or "anonymous"

    @admin.display(description="You sent")
    def message_pretty(self, obj: Event) -> str:
        return pretty_json(obj.message)

    @admin.display(description="Sent to Seg")
    def payload_pretty(self, obj: Event) -> str:
        return pretty_json(obj.payload)


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("kind", "value", "email", "user_id", "updated_at")
    list_filter = ("kind",)
    search_fields = ("=value", "=email", "=user_id")


@admin.register(Alias)
class AliasAdmin(ReadOnlyAdmin):
    list_display = ("previous_email", "email", "created_at", "message_id")
    search_fields = ("=previous_email", "=email")
