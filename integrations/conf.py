"""The app's settings, read through one function when they are used."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from .core import RetryPolicy
from .defaults import DEFAULTS as DEFAULTS  # re-exported: conf.DEFAULTS
from .defaults import DURATIONS
from .exceptions import SegConfigurationError


def get_setting(name: str) -> Any:
    """Return setting ``name`` from Django settings, else its default.

    Durations may be given as a ``timedelta`` or a number of seconds and are
    always returned as a ``timedelta``. Raises SegConfigurationError for an
    unknown name or a duration that is neither.
    """
    if name not in DEFAULTS:
        raise SegConfigurationError(f"Unknown Seg setting {name}.")
    value = getattr(settings, name, DEFAULTS[name])
    unset = value is None and DEFAULTS[name] is None  # a duration that may be left unset
    if name in DURATIONS and not isinstance(value, timedelta) and not unset:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SegConfigurationError(
                f"{name} must be a timedelta or a number of seconds, not {value!r}."
            )
        value = timedelta(seconds=value)
    return value


def post_deadline() -> float:
    """Seconds one POST to Seg may take in all: SEG_POST_DEADLINE, else
    SEG_CONNECT_TIMEOUT + SEG_READ_TIMEOUT."""
    value = get_setting("SEG_POST_DEADLINE")
    if value is None:
        return float(get_setting("SEG_CONNECT_TIMEOUT") + get_setting("SEG_READ_TIMEOUT"))
    return float(value.total_seconds())


def website_id(website: str = "") -> str:
    """The Seg Website Id an event goes to: ``website`` (the one recorded on it), else
    SEG_WEBSITE_ID; raises SegConfigurationError when neither is set."""
    value = website or get_setting("SEG_WEBSITE_ID")
    if not value:
        raise SegConfigurationError(
            "Set SEG_WEBSITE_ID to your Seg Website Id (a GUID), or name a website for "
            "each write key and site in SEG_WEBSITES."
        )
    return str(value)


def websites() -> dict[str | int, str]:
    """SEG_WEBSITES: write key, Django site id or site domain -> Seg Website Id.

    Raises SegConfigurationError when it is not a mapping of strings (or site ids)
    to non-empty strings.
    """
    value = get_setting("SEG_WEBSITES") or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str | int) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise SegConfigurationError(
            "SEG_WEBSITES must map each write key, Django site id or site domain to a Seg "
            'Website Id, e.g. {"shop-a-key": "<website id>", 2: "<website id>"}.'
        )
    return {k.strip() if isinstance(k, str) else k: v.strip() for k, v in value.items()}


def website_for(name: str | int | None = None, *, key: str | None = None, site: Any = None) -> str:
    """The Website Id of a call, by the first of these that SEG_WEBSITES names: ``name``
    (a Website Id itself, or any key of SEG_WEBSITES), the write key ``key``, then
    ``site`` (a ``django.contrib.sites`` Site, by id then domain); else SEG_WEBSITE_ID;
    else '' (no website known: delivery then asks for SEG_WEBSITE_ID).

    Raises SegConfigurationError for a ``name`` that is neither a Website Id of
    SEG_WEBSITES or SEG_WEBSITE_ID nor a key of SEG_WEBSITES.
    """
    mapping = websites()
    default = str(get_setting("SEG_WEBSITE_ID") or "")
    if name not in (None, ""):
        if name in mapping:
            return mapping[name]
        if name == default or name in mapping.values():
            return str(name)
        raise SegConfigurationError(
            f"{name!r} names no website: give a Website Id of SEG_WEBSITES or "
            "SEG_WEBSITE_ID, or a key of SEG_WEBSITES."
        )
    if key and key in mapping:
        return mapping[key]
    if site is not None and mapping:
        for ref in (getattr(site, "pk", None), getattr(site, "domain", None)):
            if ref is not None and ref in mapping:
                return mapping[ref]
    return default


def all_websites() -> tuple[str, ...]:
    """Every Website Id events may go to: SEG_WEBSITE_ID's first, then SEG_WEBSITES' in
    their order, each once."""
    found = [str(get_setting("SEG_WEBSITE_ID") or ""), *websites().values()]
    return tuple(dict.fromkeys(w for w in found if w))


def tracker_url() -> str:
    """The tracker's base URL, without a trailing slash."""
    return str(get_setting("SEG_TRACKER_URL")).rstrip("/")


def write_keys() -> tuple[str, ...]:
    """The secret (server) write keys; a comma-separated string is split."""
    return text_list("SEG_WRITE_KEYS")


def browser_write_keys() -> tuple[str, ...]:
    """The public write keys pages use (SEG_BROWSER_WRITE_KEYS)."""
    return text_list("SEG_BROWSER_WRITE_KEYS")


def allowed_origins() -> tuple[str, ...]:
    """SEG_ALLOWED_ORIGINS without trailing slashes; empty for every origin."""
    return tuple(origin.rstrip("/") for origin in text_list("SEG_ALLOWED_ORIGINS"))


def text_list(name: str) -> tuple[str, ...]:
    """A setting that lists strings, given as a sequence or one comma-separated string."""
    value = get_setting(name) or ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())


def consent_categories() -> tuple[str, ...]:
    """SEG_CONSENT_CATEGORIES: the shop's consent category ids Seg belongs to; empty for
    no enforcement."""
    return text_list("SEG_CONSENT_CATEGORIES")


def redis_url() -> str:
    """The Redis for shared throttle state: SEG_REDIS_URL, else Celery's broker."""
    value = get_setting("SEG_REDIS_URL")
    if value:
        return str(value)
    from celery import current_app

    return str(current_app.conf.broker_url)


def retry_policy() -> RetryPolicy:
    """The retry schedule of SEG_RETRY_BASE, SEG_RETRY_CAP, SEG_RETRY_WINDOW,
    SEG_MAX_ATTEMPTS and SEG_RETRY_AFTER_CAP."""
    return RetryPolicy(
        base=get_setting("SEG_RETRY_BASE"),
        cap=get_setting("SEG_RETRY_CAP"),
        window=get_setting("SEG_RETRY_WINDOW"),
        max_attempts=get_setting("SEG_MAX_ATTEMPTS"),
        retry_after_cap=get_setting("SEG_RETRY_AFTER_CAP"),
    )


def identifies(user: object) -> bool:
    """Whether the shop's pages and receivers may name Django ``user`` to Seg as a
    customer: any logged-in user, but a staff member or superuser only with
    SEG_IDENTIFY_STAFF (an operator is not a customer unless the shop says so)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    operator = getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)
    return not operator or bool(get_setting("SEG_IDENTIFY_STAFF"))
