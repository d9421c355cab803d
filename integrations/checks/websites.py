"""Checks of several stores in one project (SEG_WEBSITES): every write key reaches a
Seg website, and every website is reached by a write key or a site."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError
from django.http.request import validate_host

from .. import conf
from ..exceptions import SegConfigurationError
from .configuration import GUID_RE


def check_websites(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E201: SEG_WEBSITES is not a mapping of names to Website Ids; E202: one of its
    Website Ids is not a GUID; E203: a write key names no website (it is not in
    SEG_WEBSITES, SEG_WEBSITE_ID is unset, and no site could name one instead);
    W201: the same, when a site of SEG_WEBSITES may still name one."""
    try:
        mapping = conf.websites()
    except SegConfigurationError as error:
        return [Error(str(error), id="integrations.E201")]
    if not mapping:
        return []
    found: list[CheckMessage] = [
        Error(
            f"SEG_WEBSITES maps {name!r} to {website!r}, which is not a GUID.",
            hint="Copy each store's Website Id from Seg exactly, e.g. "
            "abc8fb18-7559-4324-9921-a4b5015b4a1c.",
            id="integrations.E202",
        )
        for name, website in mapping.items()
        if not GUID_RE.match(website)
    ]
    if conf.get_setting("SEG_WEBSITE_ID"):
        return found  # a key SEG_WEBSITES leaves out goes to SEG_WEBSITE_ID
    keys = (*conf.write_keys(), *conf.browser_write_keys())
    sites = [name for name in mapping if name not in keys]
    for key in keys:
        if key in mapping:
            continue
        shown = f"{key[:4]}…" if len(key) > 4 else key  # a server key is a secret
        if sites:
            found.append(
                Warning(
                    f"The write key {shown} is not in SEG_WEBSITES and SEG_WEBSITE_ID is "
                    "unset: its calls reach a website only through their request's site.",
                    hint="Add the key to SEG_WEBSITES, or set SEG_WEBSITE_ID for calls whose "
                    "site names no website (they are otherwise sent to none).",
                    id="integrations.W201",
                )
            )
        else:
            found.append(
                Error(
                    f"The write key {shown} names no website: it is not in SEG_WEBSITES, "
                    "and SEG_WEBSITE_ID is unset.",
                    hint="Map the key to its store's Website Id in SEG_WEBSITES, or set "
                    "SEG_WEBSITE_ID.",
                    id="integrations.E203",
                )
            )
    return found


def check_websites_reached(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W202: an entry of SEG_WEBSITES is neither a write key nor a site (a Site's id or
    domain with django.contrib.sites, else a host ALLOWED_HOSTS lets in); W203: a
    website of SEG_WEBSITES that no entry reaches, so nothing is ever sent to it. Reads
    the sites table: a database check."""
    try:
        mapping = conf.websites()
    except SegConfigurationError:
        return []  # check_websites reports it
    if not mapping:
        return []
    keys = {*conf.write_keys(), *conf.browser_write_keys()}
    ids, domains = _sites()
    found: list[CheckMessage] = []
    reached: set[str] = set()
    for name, website in mapping.items():
        if name in keys or _is_site(name, ids, domains):
            reached.add(website)
            continue
        found.append(
            Warning(
                f"SEG_WEBSITES names {name!r}, which is neither a write key of "
                "SEG_WRITE_KEYS or SEG_BROWSER_WRITE_KEYS nor a site of this project.",
                hint="Name a write key, a Site's id or domain (django.contrib.sites), or a "
                "host of ALLOWED_HOSTS; or remove the entry.",
                id="integrations.W202",
            )
        )
    found += [
        Warning(
            f"No write key or site reaches the Seg website {website}: nothing is sent to it.",
            hint="Map one of its store's write keys or sites to it in SEG_WEBSITES.",
            id="integrations.W203",
        )
        for website in dict.fromkeys(mapping.values())
        if website not in reached and website != conf.get_setting("SEG_WEBSITE_ID")
    ]
    return found


def _sites() -> tuple[set[int], set[str]] | tuple[None, None]:
    """The ids and domains of the project's Sites; (None, None) without
    django.contrib.sites, or when its table cannot be read (not migrated yet)."""
    if not apps.is_installed("django.contrib.sites"):
        return None, None
    from django.contrib.sites.models import Site  # only once the app is known installed

    try:
        rows = list(Site.objects.values_list("pk", "domain"))
    except DatabaseError:
        return None, None
    return {pk for pk, _ in rows}, {domain for _, domain in rows}


def _is_site(name: str | int, ids: set[int] | None, domains: set[str] | None) -> bool:
    if ids is not None and domains is not None:
        return name in ids or name in domains
    # Without the sites framework a request's site is its host (RequestSite).
    return isinstance(name, str) and validate_host(name, settings.ALLOWED_HOSTS)
