"""System checks of the Celery side: an app that carries the tasks, workers that take them."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery._state import get_current_app
from django.core.checks import CheckMessage, Error, Warning
from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.utils import timezone

from ..core import DELIVERY_TASKS as DELIVERY_TASKS
from . import health

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
            hint="Start a worker on the seg, seg_browser and seg_backfill queues (celery -A "
            "<project> worker -Q seg,seg_browser,seg_backfill) and beat (celery -A <project> "
            "beat), and check that "
            "both reach the broker and the database.",
            id="integrations.W005",
        )
    ]
