"""The pages beside the events list: the delivery dashboard, a customer's events,
and what an event's page shows below its fields.

The dashboard and the customer page are functions of the events' model admin and
the request; EventAdmin routes them under its own URLs and admin_view.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import checks, conf, delivery, operating
from ..ingest import identity_chain
from ..models import Alias, Attempt, Event, Identity, Status
from .display import pretty_json, seconds, status_badge
from .guards import customer_email


def event_panes(event: Event) -> dict[str, Any]:
    """What the shop sent, what went to Seg, what Seg answered, the history and the
    identity chain: the event page's context beside the event itself."""
    attempts = list(Attempt.objects.filter(event=event).order_by("number", "id"))
    return {
        "event": event,
        "sent": pretty_json(event.message),
        "payload": pretty_json(event.payload) if event.payload is not None else None,
        "seg_url": delivery.endpoint(event.action, event.website) if event.action else None,
        "attempts": attempts,
        "timeline": [
            (entry.at, status_badge(entry.status), entry.cause)
            for entry in operating.history(event, attempts)
        ],
        "chain": identity_chain(event),
    }


def dashboard(model_admin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    times = operating.delivery_times(now - timedelta(days=1))
    per_minute = operating.delivered_per_minute(now)
    # Each window: its label, the statuses it has events in, and its bar.
    windows = [
        (label, [(status, n) for status, n in counts.items() if n], operating.stacked(counts))
        for label, counts in operating.counts_by_window(now).items()
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Delivery to Seg",
        "opts": model_admin.model._meta,
        "windows": windows,
        "per_minute_chart": operating.bars(per_minute),
        "delivered_last_hour": sum(n for _, n in per_minute),
        # Held (receipt to release) and delivery (deliverable to delivered) apart: a
        # visitor who logs in a day later is not a slow delivery.
        "held_released": len(times.held),
        "held_time": shown(operating.percentiles(times.held)),
        "delivery_time": shown(operating.percentiles(times.delivery)),
        "errors": operating.top_errors(now - timedelta(days=1)),
        "oldest_pending": operating.oldest_pending(),
        "held": operating.held_summary(),
        "withheld": operating.withheld_by_reason(now - timedelta(days=1)),
        "statuses": Status.values,
        **_websites(now),
        "stall": checks.delivery_stall(now),
    }
    return TemplateResponse(request, "admin/integrations/event/dashboard.html", context)


def shown(percentiles: dict[float, timedelta | None]) -> dict[str, str]:
    """{"p50": "1.2 s", ...} from {0.5: timedelta, ...}."""
    return {f"p{int(point * 100)}": seconds(value) for point, value in percentiles.items()}


def _websites(now: datetime) -> dict[str, Any]:
    """Each Seg website's backlog and circuit, for the dashboard: ``circuit_open`` (the
    websites whose circuit is open) and, with several websites, ``websites`` (a row
    each: its figures and whether its circuit is open)."""
    default = str(conf.get_setting("SEG_WEBSITE_ID") or "")
    known = conf.all_websites() or ("",)
    shut = delivery.open_websites(known)
    several = len(known) > 1 or bool(conf.get_setting("SEG_WEBSITES"))
    rows = operating.by_website(now, known, default) if several else []
    return {
        "circuit_open": sorted(w or "SEG_WEBSITE_ID" for w in shut),
        "websites": [(figures, figures.website in shut) for figures in rows],
    }


def customer(model_admin: admin.ModelAdmin[Any], request: HttpRequest, email: str) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    email = customer_email(email)
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
        **model_admin.admin_site.each_context(request),
        "title": f"Customer {email}",
        "opts": model_admin.model._meta,
        "email": email,
        "events": [(e, status_badge(e.status, e.get_status_display())) for e in events],
        "aliases_from": Alias.objects.filter(previous_email=email),
        "aliases_to": Alias.objects.filter(email=email),
        "identities": Identity.objects.filter(email=email)[:100],
    }
    return TemplateResponse(request, "admin/integrations/event/customer.html", context)
