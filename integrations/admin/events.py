"""The events list, its actions and one event's page.

The list never counts the whole table and searches indexed columns only. Each action
is one set-based call into ``operations``, guarded by its permission, in the admin log.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import lifecycle
from ..models import Event
from . import actions as event_actions
from . import views
from .display import first_attempt, moment, status_badge
from .forms import EventPageForm, SuppressForm
from .guards import GuardedAdmin
from .lists import (
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
        return format_html('<span class="seg-order">{}</span>', obj.order_id)

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
    def _act(
        self, request: HttpRequest, queryset: Any, name: str, reason: str = ""
    ) -> HttpResponse | None:
        """Run action ``name`` on ``queryset`` (or first ask, when it would send and
        the operator has not confirmed), then say what it did, row by row in kind."""
        verb = event_actions.VERBS[name]
        plan = event_actions.plan(verb, queryset)
        if verb.sends and plan.movable > verb.ask_above and not event_actions.asked(request):
            return self._confirm(request, queryset, plan)
        actor = str(request.user)
        if verb.move == "suppress":
            changed = lifecycle.suppress(queryset, actor, reason)
        else:
            changed = getattr(lifecycle, verb.move)(queryset, actor)
        event_actions.log(request, verb.done, changed, plan.selected)
        level = messages.SUCCESS if changed else messages.WARNING
        self.message_user(request, plan.message(changed), level)
        return self._back(request)

    def _confirm(
        self, request: HttpRequest, queryset: Any, plan: event_actions.Plan
    ) -> HttpResponse:
        kinds, sample = event_actions.to_send(plan.verb, queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{plan.verb.label}: are you sure?",
            "is_nav_sidebar_enabled": False,
            "opts": self.model._meta,
            "plan": plan,
            "kinds": kinds,
            "sample": sample,
            "unsendable_note": event_actions.UNSENDABLE,
            **event_actions.carried(request, plan.verb.name),
        }
        return TemplateResponse(request, "admin/integrations/event/confirm.html", context)

    def _back(self, request: HttpRequest) -> HttpResponse | None:
        """To the event's page when the action was taken there, else the list (None)."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if request.POST.get(event_actions.RETURN) == "event" and len(selected) == 1:
            pk = event_pk(selected[0])
            if pk is not None:
                return HttpResponseRedirect(reverse("admin:integrations_event_change", args=[pk]))
        return None

    @admin.action(
        description="Retry delivery of selected failed or expired events", permissions=["retry"]
    )
    def retry_events(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._act(request, queryset, "retry_events")

    @admin.action(
        description="Replay selected delivered events (asks first)", permissions=["retry"]
    )
    def replay_events(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._act(request, queryset, "replay_events")

    @admin.action(
        description="Suppress selected events (asks for a reason)", permissions=["suppress"]
    )
    def suppress_events(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        form = SuppressForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            return self._act(request, queryset, "suppress_events", form.cleaned_data["reason"])
        verb = event_actions.VERBS["suppress_events"]
        context = {
            **self.admin_site.each_context(request),
            "title": "Suppress events",
            "is_nav_sidebar_enabled": False,
            "opts": self.model._meta,
            "form": form,
            "plan": event_actions.plan(verb, queryset),
            **event_actions.carried(request, verb.name),
        }
        return TemplateResponse(request, "admin/integrations/event/suppress.html", context)

    @admin.action(
        description="Unsuppress selected events (asks first; held again without an email)",
        permissions=["suppress"],
    )
    def unsuppress_events(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._act(request, queryset, "unsuppress_events")

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

    @admin.display(description="first attempt")
    def first_attempt(self, obj: Event) -> str:
        return first_attempt(obj) or self.get_empty_value_display()

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
            may = {"retry": self.has_retry_permission, "suppress": self.has_suppress_permission}
            allowed = {name: may[p](request) for name, p in event_actions.PERMISSIONS.items()}
            context["buttons"] = event_actions.buttons(obj, allowed)
            context["return_field"] = event_actions.RETURN
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
