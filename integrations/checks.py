"""System checks: each misconfiguration explained, with the setting to change."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from . import conf
from .exceptions import SegConfigurationError

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def check_website_id(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = conf.get_setting("SEG_WEBSITE_ID")
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
        request = conf.get_setting("SEG_CONNECT_TIMEOUT") + conf.get_setting("SEG_READ_TIMEOUT")
        conf.get_setting("SEG_RETRY_WINDOW")
    except SegConfigurationError as error:
        return [Error(str(error), id="integrations.E005")]
    if lease <= request:
        return [
            Error(
                f"SEG_LEASE ({lease:g}s) is not longer than one request "
                f"(SEG_CONNECT_TIMEOUT + SEG_READ_TIMEOUT = {request:g}s).",
                hint="A lease shorter than a request lets a second worker deliver an event "
                "that is still in flight; raise SEG_LEASE.",
                id="integrations.E006",
            )
        ]
    return []


def check_publish_retries(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
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
    return []


ALL_CHECKS = (
    check_website_id,
    check_write_keys,
    check_tracker_url,
    check_timings,
    check_publish_retries,
)
