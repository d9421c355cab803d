"""Writing identity rows: an upsert for live calls, an insert that keeps what is there for
a shop's history (a backfill's calls never overwrite what live calls made known)."""

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
    updates that row's ``update`` fields, or with ``keep`` leaves it as it is."""
    if not rows:
        return
    if keep:
        model._default_manager.bulk_create(rows, ignore_conflicts=True)
    else:
        model._default_manager.bulk_create(
            rows, update_conflicts=True, unique_fields=unique, update_fields=update
        )
