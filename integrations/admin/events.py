"""The events list, its actions and one event's page.

The list never counts the whole table and searches indexed columns only. Each
action is one set-based call into ``operations``, guarded by its own permission
and written to the admin log.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from .. import lifecycle
from ..models import Event
from . import views
from .display import moment, status_badge
from .forms import EventPageForm, SuppressForm
from .guards import GuardedAdmin
from .lists import (
    COUNT_CAP,
    CappedPaginator,
    HasErrorFilter,
    ReceivedFilter,
    WebsiteFilter,
    WithheldFilter,
)


@admin.register(Event)
class EventAdmin(GuardedAdmin):
    list_display = ("when", "who", "what", "order", "badge", "attempts", "next_attempt")
    list_display_links = ("when",)
    list_filter = (
        "status",
        WithheldFilter,
        "call_type",
        "seg_event",
        HasErrorFilter,
        ReceivedFilter,
        "rule",
        WebsiteFilter,
    )
    search_fields = ("=email", "=message_id", "=order_id", "=user_id")
    search_help_text = "An exact email, messageId, order id or userId."
    paginator = CappedPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ("retry_events", "replay_events", "suppress_events", "unsuppress_events")
    change_form_template = "admin/integrations/event/change_form.html"
    change_list_template = "admin/integrations/event/change_list.html"

    # --- the list -------------------------------------------------------
    when = moment(Event, "received_at", "when", ordering="-received_at")
    next_attempt = moment(Event, "next_attempt_at")

    @admin.display(description="who")
    def who(self, obj: Event) -> SafeString:
        if not obj.email:
            return format_html('<span class="seg-quiet">{}</span>', "anonymous")
        url = reverse("admin:integrations_event_customer", args=[obj.email])
        return format_html(
            '<a href="{}" class="seg-clip" title="{}">{}</a>', url, obj.email, obj.email
        )

    @admin.display(description="what")
    def what(self, obj: Event) -> SafeString:
        name = obj.name or obj.call_type
        if obj.seg_event or obj.action:
            return format_html("{} &rarr; <b>{}</b>", name, obj.seg_event or obj.action)
        return format_html("{}", name)

    @admin.display(description="order id")
    def order(self, obj: Event) -> SafeString | None:
        if not obj.order_id:
            return None
        return format_html(
            '<span class="seg-clip seg-order" title="{}">{}</span>', obj.order_id, obj.order_id
        )

    @admin.display(description="status", ordering="status")
    def badge(self, obj: Event) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # Seven columns and the filters take a 1366 px screen's width: the list goes
        # without the admin's app sidebar (the breadcrumbs lead back).
        context = {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        return super().changelist_view(request, context)

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
    def _done(
        self, request: HttpRequest, verb: str, changed: int, selected: int, unsendable: int = 0
    ) -> None:
        """Log what an action changed (nothing when it changed nothing), and say so, with
        the ``unsendable`` selected events it left as they were."""
        if changed:
            numbers = {"verb": verb, "changed": changed, "selected": selected}
            LogEntry.objects.create(
                user_id=cast(int, request.user.pk),
                content_type_id=ContentType.objects.get_for_model(Event).pk,
                object_id=None,
                object_repr=ngettext("%(changed)d event", "%(changed)d events", changed) % numbers,
                action_flag=CHANGE,
                change_message=ngettext(
                    "%(verb)s %(changed)d of %(selected)d selected event.",
                    "%(verb)s %(changed)d of %(selected)d selected events.",
                    selected,
                )
                % numbers,
            )
        message = ngettext("%(verb)s %(count)d event.", "%(verb)s %(count)d events.", changed) % {
            "verb": verb,
            "count": changed,
        }
        if unsendable:
            message += (
                f" {unsendable} selected have no email or nothing to send, and stay as they "
                "are: Seg is never sent an event without an email."
            )
        if changed + unsendable < selected:
            others = selected - changed - unsendable
            message += f" {others} selected were not in a state that allows it."
        self.message_user(request, message, messages.SUCCESS if changed else messages.WARNING)

    def _selected(self, queryset: QuerySet[Any]) -> int:
        return int(queryset.order_by()[: COUNT_CAP * 100].count())

    @admin.action(
        description="Retry delivery of selected failed or expired events", permissions=["retry"]
    )
    def retry_events(self, request: HttpRequest, queryset: Any) -> None:
        changed = lifecycle.retry(queryset, str(request.user))
        left = lifecycle.count_unsendable(queryset, "retry", COUNT_CAP * 100)
        self._done(request, "Retried", changed, self._selected(queryset), left)

    @admin.action(description="Replay selected delivered events", permissions=["retry"])
    def replay_events(self, request: HttpRequest, queryset: Any) -> None:
        changed = lifecycle.replay(queryset, str(request.user))
        left = lifecycle.count_unsendable(queryset, "replay", COUNT_CAP * 100)
        self._done(request, "Replayed", changed, self._selected(queryset), left)

    @admin.action(
        description="Suppress selected events (asks for a reason)", permissions=["suppress"]
    )
    def suppress_events(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        form = SuppressForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            selected = self._selected(queryset)
            changed = lifecycle.suppress(queryset, str(request.user), reason)
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
        description="Unsuppress selected events (back to pending; held without an email)",
        permissions=["suppress"],
    )
    def unsuppress_events(self, request: HttpRequest, queryset: Any) -> None:
        selected = self._selected(queryset)
        # Those with no email go back to held; those with one but nothing to send stay.
        left = lifecycle.count_unsendable(queryset.exclude(email=""), "unsuppress", COUNT_CAP * 100)
        changed = lifecycle.unsuppress(queryset, str(request.user))
        self._done(request, "Unsuppressed", changed, selected, left)

    # --- one event --------------------------------------------------------
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("status_badge_field", "status_reason"),
                    ("call_type", "name", "seg_event", "action"),
                    ("email", "user_id", "anonymous_id", "order_id"),
                    ("message_id", "website", "rule"),
                    ("event_time", "received", "delivered"),
                    ("attempts", "next_attempt", "first_attempt"),
                    "last_error",
                )
            },
        ),
    )
    # The record is read-only: every field of the page.
    readonly_fields = tuple(flatten_fieldsets(fieldsets))

    # The moments, written as everywhere in the app; EventPageForm gives their help.
    event_time = moment(Event, "timestamp")
    received = moment(Event, "received_at")
    delivered = moment(Event, "delivered_at")
    first_attempt = moment(Event, "first_attempt_at")
    form = EventPageForm

    @admin.display(description="status")
    def status_badge_field(self, obj: Event) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if event_pk(object_id) is None:
            raise Http404("An event's id is a number.")
        return super().change_view(request, object_id, form_url, extra_context)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: Any = None
    ) -> Event | None:
        pk = event_pk(object_id)
        return None if pk is None else Event.objects.filter(pk=pk).select_related("rule").first()

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Event | None = None,
    ) -> HttpResponse:
        # The page's panes come from the event get_object read: one fetch.
        if obj is not None:
            context.update(views.event_panes(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

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
        return views.dashboard(self, request)

    def customer_view(self, request: HttpRequest, email: str) -> HttpResponse:
        return views.customer(self, request, email)


def event_pk(object_id: str) -> int | None:
    """The event id in an admin URL, or None when it cannot be one."""
    return int(object_id) if object_id.isascii() and object_id.isdigit() else None
