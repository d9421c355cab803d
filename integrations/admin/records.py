"""The records beside the events: suppression rules, and the identities and aliases
ingest learned (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import lifecycle
from ..models import Alias, Identity, SuppressionRule
from .display import moment
from .guards import GuardedAdmin


@admin.register(SuppressionRule)
class SuppressionRuleAdmin(GuardedAdmin):
    list_display = ("__str__", "reason", "enabled", "caught", "created_by", "created")
    list_filter = ("enabled", "seg_event")
    search_fields = ("=email",)
    readonly_fields = ("created_by", "created")
    fields = ("email", "seg_event", "reason", "enabled", "created_by", "created")
    created = moment(SuppressionRule, "created_at")

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
        lifecycle.forget_rules()


class ReadOnlyAdmin(GuardedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("kind", "value", "email", "user_id", "updated")
    updated = moment(Identity, "updated_at")
    list_filter = ("kind",)
    search_fields = ("=value", "=email", "=user_id")


@admin.register(Alias)
class AliasAdmin(ReadOnlyAdmin):
    list_display = ("previous_email", "email", "created", "message_id")
    search_fields = ("=previous_email", "=email")
    created = moment(Alias, "created_at")
