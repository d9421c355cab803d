"""System checks: each misconfiguration explained, with the setting to change."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, current_app
from celery._state import get_current_app
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.utils import timezone

from . import conf, health
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
    return []


# The tasks that carry deliveries: each must be acked late and requeued when its
# process dies, or a worker killed mid-task loses the events it held.
# The names dispatch.py publishes (it loads the models, which checks must not).
DELIVERY_TASKS = (
    "integrations.deliver_event",
    "integrations.deliver_events",
    "integrations.fan_out",
)
CELERY_APP_HINT = (
    "Create your project's Celery app in <project>/celery.py, load the settings with "
    'app.config_from_object("django.conf:settings", namespace="CELERY"), and import it '
    "in <project>/__init__.py (from .celery import app as celery_app), as Celery's "
    '"First steps with Django" and the README of django-seg-integrations show.'
)


def check_celery_app(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return celery_app_messages(get_current_app())


def is_celery_fallback(app: Celery) -> bool:
    """Whether ``app`` is the app Celery makes itself when no app was created.

    ``celery._state`` makes it as ``Celery("default", fixups=[], set_as_current=False)``
    the first time ``current_app`` is read in a process where no app set itself current.
    """
    return app.main == "default" and not getattr(app, "set_as_current", True)


def celery_app_messages(app: Celery) -> list[CheckMessage]:
    """What would keep ``app`` (the current Celery app) from carrying the app's tasks.

    Celery falls back to a default app that reads no settings: every CELERY_*
    setting is then ignored, and each event waits, pending, for good.
    """
    if is_celery_fallback(app):
        return [
            Error(
                "No Celery app is loaded: the events' delivery tasks would go to Celery's "
                "default app, which reads none of the CELERY_* settings.",
                hint=CELERY_APP_HINT,
                id="integrations.E007",
            )
        ]
    if not (app.conf.broker_url or app.conf.broker_write_url):
        return [
            Error(
                f"The Celery app {app.main!r} has no broker URL: no delivery task would "
                "reach a worker.",
                hint="Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) and load it with "
                'app.config_from_object("django.conf:settings", namespace="CELERY").',
                id="integrations.E008",
            )
        ]
    messages: list[CheckMessage] = []
    tasks = [app.tasks[name] for name in DELIVERY_TASKS if name in app.tasks]
    late = [task.name for task in tasks if not task.acks_late]
    if late:
        messages.append(
            Warning(
                f"Late acks are off for {', '.join(late)}: a worker killed mid-task would "
                "lose its message, and its events would wait for the sweeper.",
                hint="Keep CELERY_TASK_ACKS_LATE = True (integrations.celery_settings) and "
                "do not annotate the app's tasks with acks_late=False.",
                id="integrations.W003",
            )
        )
    lost = [task.name for task in tasks if not task.reject_on_worker_lost]
    if lost:
        messages.append(
            Warning(
                f"Reject on worker lost is off for {', '.join(lost)}: a pool process that "
                "dies (SIGKILL, out of memory) would have its message acked as failed.",
                hint="Keep CELERY_TASK_REJECT_ON_WORKER_LOST = True "
                "(integrations.celery_settings) and do not annotate it off.",
                id="integrations.W004",
            )
        )
    return messages


def check_delivery_moves(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Registered with the ``database`` tag: ``manage.py check --database default``."""
    if not databases or DEFAULT_DB_ALIAS not in databases:
        return []
    try:
        stall = health.delivery_stall(timezone.now())
    except DatabaseError:  # not migrated yet: nothing can be due
        return []
    if stall is None:
        return []
    return [
        Warning(
            stall.describe(),
            hint="Start a worker on the seg queue (celery -A <project> worker -Q seg) and "
            "beat (celery -A <project> beat), and check that both reach the broker and "
            "the database.",
            id="integrations.W005",
        )
    ]


ALL_CHECKS = (
    check_website_id,
    check_write_keys,
    check_tracker_url,
    check_timings,
    check_publish_retries,
    check_celery_app,
)
DATABASE_CHECKS = (check_delivery_moves,)
