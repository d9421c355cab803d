"""Writing identity rows: an upsert for live calls, an insert that keeps what is there for
a shop's history (a backfill's calls never overwrite what live calls made known, only
what earlier history made: ``history``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models


def upsert(
    model: type[models.Model],
    rows: Sequence[models.Model],
    unique: tuple[str, ...],
    update: tuple[str, ...],
    keep: bool = False,
) -> None:
    """Insert ``rows`` of ``model`` in one statement: a row whose ``unique`` fields are taken
    updates that row's ``update`` fields, or with ``keep`` replaces it only where the taken
    row is marked ``history`` (made by a backfill alone) and else leaves it as it is: one
    more indexed read, and a delete when some are replaced."""
    if not rows:
        return
    manager = model._default_manager
    if not keep:
        manager.bulk_create(rows, update_conflicts=True, unique_fields=unique, update_fields=update)
        return
    keys = {tuple(getattr(row, name) for name in unique) for row in rows}
    near = {f"{name}__in": {key[i] for key in keys} for i, name in enumerate(unique)}
    taken = manager.filter(history=True, **near).values_list("pk", *unique)
    stale = [pk for pk, *key in taken if tuple(key) in keys]
    if stale:
        manager.filter(pk__in=stale).delete()
    manager.bulk_create(rows, ignore_conflicts=True)
