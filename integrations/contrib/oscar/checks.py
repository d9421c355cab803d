"""System checks of the Oscar integration: each misconfiguration explained, with the fix."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DEFAULT_DB_ALIAS

from . import conf

MIDDLEWARE = "integrations.contrib.oscar.visitor.VisitorMiddleware"


def check_signals(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = conf.get_setting("SEG_OSCAR_SIGNALS")
    names = [value] if isinstance(value, str) else list(value or ())
    unknown = sorted(str(name) for name in names if name not in conf.RECEIVERS)
    if isinstance(value, str) or unknown:
        return [
            Error(
                f"SEG_OSCAR_SIGNALS must be a list of receiver names; {unknown or value!r} "
                "is not one.",
                hint=f"Choose among {', '.join(conf.RECEIVERS)}.",
                id="seg_oscar.E001",
            )
        ]
    return []


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not conf.enabled("order_placed") or MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [
        Warning(
            "Order Completed cannot carry the visitor's anonymousId or page: Oscar's "
            "order_placed signal has no request.",
            hint=f"Add {MIDDLEWARE!r} to MIDDLEWARE.",
            id="seg_oscar.W001",
        )
    ]


def check_atomic_requests(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    database = settings.DATABASES.get(DEFAULT_DB_ALIAS, {})
    if not conf.enabled("order_placed") or database.get("ATOMIC_REQUESTS"):
        return []
    return [
        Warning(
            "Order Completed is not stored in the order's transaction: Oscar sends "
            "order_placed after committing the order.",
            hint="Set 'ATOMIC_REQUESTS': True on the default database, as Oscar's "
            "'Building your own shop' recommends.",
            id="seg_oscar.W002",
        )
    ]


ALL_CHECKS = [check_signals, check_middleware, check_atomic_requests]
