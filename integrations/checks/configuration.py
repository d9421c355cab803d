"""System checks: each misconfiguration explained, with the setting to change."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from celery._state import get_current_app
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from .. import conf
from ..exceptions import SegConfigurationError
from .workers import check_celery_app, check_delivery_moves, is_celery_fallback

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def check_website_id(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = conf.get_setting("SEG_WEBSITE_ID")
    if not value and conf.get_setting("SEG_WEBSITES"):
        return []  # several stores, each key or site its own website (check_websites)
    if not value:
        return [
            Error(
                "SEG_WEBSITE_ID is not set.",
                hint="Set it to your store's Website Id from Seg (a GUID such as "
                "abc8fb18-7559-4324-9921-a4b5015b4a1c).",
                id="integrations.E001",
            )
        ]
    if not isinstance(value, str) or not GUID_RE.match(value):
        return [
            Error(
                f"SEG_WEBSITE_ID {value!r} is not a GUID.",
                hint="Copy the Website Id from Seg exactly, e.g. "
                "abc8fb18-7559-4324-9921-a4b5015b4a1c.",
                id="integrations.E002",
            )
        ]
    return []


def check_write_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not conf.write_keys():
        return [
            Error(
                "SEG_WRITE_KEYS is empty: every call to the ingestion endpoint would get 401.",
                hint="Set SEG_WRITE_KEYS to one or more secret keys, comma-separated, and "
                "give one to each Segment source.",
                id="integrations.E003",
            )
        ]
    return []


def check_tracker_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    url = conf.tracker_url()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            Error(
                f"SEG_TRACKER_URL {url!r} is not an http(s) URL.",
                hint="Leave it unset for https://tracker.segapp.com.",
                id="integrations.E004",
            )
        ]
    if parts.scheme != "https" and not settings.DEBUG:
        return [
            Warning(
                f"SEG_TRACKER_URL {url!r} is not https, and DEBUG is off.",
                hint="Customer data would cross the network unencrypted; use https.",
                id="integrations.W001",
            )
        ]
    return []


def check_timings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        lease = conf.get_setting("SEG_LEASE").total_seconds()
        request = conf.post_deadline()
        conf.get_setting("SEG_RETRY_WINDOW")
    except SegConfigurationError as error:
        return [Error(str(error), id="integrations.E005")]
    if lease <= request:
        named = (
            "SEG_CONNECT_TIMEOUT + SEG_READ_TIMEOUT"
            if conf.get_setting("SEG_POST_DEADLINE") is None
            else "SEG_POST_DEADLINE"
        )
        return [
            Error(
                f"SEG_LEASE ({lease:g}s) is not longer than one request ({named} = {request:g}s).",
                hint="A lease shorter than a request lets a second worker deliver an event "
                "that is still in flight; raise SEG_LEASE, or lower SEG_POST_DEADLINE.",
                id="integrations.E006",
            )
        ]
    return []


def check_publish_retries(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if is_celery_fallback(get_current_app()):
        return []  # integrations.E007 says why: no setting is read at all
    options = current_app.conf.broker_transport_options or {}
    if options.get("max_retries") != 0:
        return [
            Warning(
                "Publishing a delivery task retries the broker connection: while Redis is "
                "down, a shop's request would wait for it (about 6 s with Celery's defaults).",
                hint='Add "max_retries": 0 to CELERY_BROKER_TRANSPORT_OPTIONS. The '
                "worker's own connection keeps its own retries, and the sweeper queues "
                "what could not be published.",
                id="integrations.W002",
            )
        ]
    strategy = options.get("queue_order_strategy", "round_robin")
    if strategy != "priority":
        return [
            Warning(
                f"The broker's queue_order_strategy is {strategy!r}: a worker would take "
                "pages' wake-ups (seg_browser) in turn with the server's (seg), so a flood "
                "from pages (or a backfill's, seg_backfill) would slow the shop's orders.",
                hint='Add "queue_order_strategy": "priority" to CELERY_BROKER_TRANSPORT_OPTIONS '
                "(integrations.celery_settings has it) and start workers with "
                "-Q seg,seg_browser,seg_backfill, in that order.",
                id="integrations.W006",
            )
        ]
    return []


def check_browser_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    both = sorted(set(conf.write_keys()) & set(conf.browser_write_keys()))
    if both:
        return [
            Error(
                f"{len(both)} key(s) are in both SEG_WRITE_KEYS and SEG_BROWSER_WRITE_KEYS.",
                hint="A browser key is public (any visitor reads it from the page); a server "
                "key must stay secret. Give pages and servers different keys.",
                id="integrations.E101",
            )
        ]
    return []


def check_origins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for origin in conf.allowed_origins():
        if not _is_origin(origin):
            errors.append(
                Error(
                    f"SEG_ALLOWED_ORIGINS holds {origin!r}, which is not an origin.",
                    hint="List origins as browsers send them: scheme, host and port only, "
                    "e.g. https://shop.example or http://127.0.0.1:8000 (no path, no '*'; "
                    "leave the setting empty to allow every origin).",
                    id="integrations.E102",
                )
            )
    public = conf.get_setting("SEG_PUBLIC_ORIGIN")
    if public and not (isinstance(public, str) and _is_origin(public.rstrip("/"))):
        errors.append(
            Error(
                f"SEG_PUBLIC_ORIGIN {public!r} is not an origin.",
                hint="Set it to the shop's origin as browsers reach it, e.g. "
                "https://shop.example, or leave it unset to take it from each request.",
                id="integrations.E103",
            )
        )
    return errors


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not (parts.path or parts.query or parts.fragment)
        and "*" not in value
        and "@" not in parts.netloc
    )


def check_browser_limit(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    rate = conf.get_setting("SEG_BROWSER_RATE_LIMIT")
    burst = conf.get_setting("SEG_BROWSER_BURST")
    numbers = isinstance(rate, int | float) and isinstance(burst, int)
    if not numbers or rate < 0 or burst < 1:
        return [
            Error(
                f"SEG_BROWSER_RATE_LIMIT ({rate!r}) must be a number >= 0 and "
                f"SEG_BROWSER_BURST ({burst!r}) a whole number >= 1.",
                hint="The defaults (20 messages a second, 200 at once per client address) "
                "suit a shop; 0 turns the limit off.",
                id="integrations.E104",
            )
        ]
    return []


def check_metrics_access(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    wrong = []
    for entry in conf.text_list("SEG_METRICS_ALLOWED_IPS"):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            wrong.append(entry)
    if wrong:
        return [
            Error(
                f"SEG_METRICS_ALLOWED_IPS holds {', '.join(map(repr, wrong))}: no address "
                "or network.",
                hint="List addresses or networks, e.g. 10.0.0.0/8, 192.0.2.7 or ::1; "
                "/metrics leaves the others out.",
                id="integrations.E105",
            )
        ]
    return []


def check_analytics_js(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not conf.browser_write_keys():
        return []
    path = conf.get_setting("SEG_ANALYTICS_JS_PATH")
    if path and not Path(path).is_file():
        return [
            Warning(
                f"SEG_ANALYTICS_JS_PATH {str(path)!r} is not a file: pages that load "
                "analytics.js from the shop get 404.",
                hint="Run `npm ci` at the project's root (package.json pins "
                "@segment/analytics-next), or point the setting at the file you installed.",
                id="integrations.W101",
            )
        ]
    if not path and not conf.get_setting("SEG_ANALYTICS_JS_URL"):
        return [
            Warning(
                "SEG_BROWSER_WRITE_KEYS is set but analytics.js is not: "
                "<mount>/analytics.js/v1/<key>/analytics.min.js answers 404.",
                hint="Set SEG_ANALYTICS_JS_PATH to node_modules/@segment/analytics-next/dist/"
                "umd/standalone.js (npm ci), or SEG_ANALYTICS_JS_URL to where you serve it. A "
                "shop that bundles analytics.js itself (cdnURL) may silence this check.",
                id="integrations.W102",
            )
        ]
    return []


def check_request_processor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not conf.browser_write_keys():
        return []
    processor = "django.template.context_processors.request"
    engines: list[dict[str, Any]] = settings.TEMPLATES
    for engine in engines:
        if processor in engine.get("OPTIONS", {}).get("context_processors", ()):
            return []
    return [
        Warning(
            "No template engine has the request context processor: {% seg_analytics %} "
            "needs the request to build its URLs.",
            hint=f'Add "{processor}" to the context_processors of TEMPLATES.',
            id="integrations.W103",
        )
    ]


ALL_CHECKS = (
    check_website_id,
    check_write_keys,
    check_tracker_url,
    check_timings,
    check_publish_retries,
    check_browser_keys,
    check_origins,
    check_browser_limit,
    check_metrics_access,
    check_analytics_js,
    check_request_processor,
    check_celery_app,
)
DATABASE_CHECKS = (check_delivery_moves,)
