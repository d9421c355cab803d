"""Held events: what an identify with an email releases, within a bounded cost.

A visitor's events are held while no email is known for them. An identify that
makes one known releases them, oldest first, in the same transaction as its own
row (``ingest``), at most SEG_RELEASE_BATCH of them; ``release_rest`` (a task)
releases the rest, batch by batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import conf, lifecycle
from ..core import with_email
from ..models import Event, Source, Status, SuppressionRule
from . import locks
from .identity import Resolver
from .locks import Space
from .lookup import lookup


@dataclass(frozen=True)
class Release:
    """Held events an identify with an email releases: those of ``user_id`` and of
    ``anonymous_id`` (and of the anonymousIds the server tied to the user) with the
    server's word (``scope`` server); with a page's, only that page's own events of
    ``anonymous_id``."""

    user_id: str | None
    anonymous_id: str | None
    scope: str


def release_held(resolver: Resolver, release: Release, now: datetime) -> tuple[list[int], bool]:
    """Release up to SEG_RELEASE_BATCH of the rows ``release`` names, oldest first.

    Returns the ids released, in order, and whether none is left. Its cost is
    bounded whatever the visitor's history: one indexed query per id, each
    reading at most SEG_RELEASE_BATCH rows, over the identify's own ids and the
    SEG_RELEASE_ANONYMOUS_IDS anonymousIds most recently tied to its userId.
    """
    source = Source.SERVER if release.scope == Source.SERVER else Source.BROWSER
    server = release.scope == Source.SERVER
    email = resolver.email_for(release.user_id, release.anonymous_id, source, vouched=server)
    if not email:
        return [], True
    limit = int(conf.get_setting("SEG_RELEASE_BATCH"))
    anonymous_ids = {release.anonymous_id} if release.anonymous_id else set()
    user_id = release.user_id if release.scope == Source.SERVER else None
    if user_id:
        tied = int(conf.get_setting("SEG_RELEASE_ANONYMOUS_IDS"))
        anonymous_ids.update(resolver.anonymous_ids_of(user_id, tied))
    rows = _held(user_id, sorted(anonymous_ids), release.scope == Source.BROWSER, limit + 1)
    done = len(rows) <= limit
    due: list[tuple[int, dict[str, object]]] = []
    caught: dict[SuppressionRule, list[tuple[int, dict[str, object]]]] = {}
    for pk, payload, seg_event in rows[:limit]:
        if payload is None:
            continue
        changes: dict[str, object] = {"email": email, "payload": with_email(payload, email)}
        if rule := lifecycle.matching_rule(email, seg_event):
            caught.setdefault(rule, []).append(
                (pk, changes | {"rule": rule, "next_attempt_at": None})
            )
        else:
            due.append((pk, changes | {"next_attempt_at": now, "enqueued_at": now}))
    cause = f"Released: an identify made {email} known."
    released = lifecycle.move_each(
        "release", [(pk, c | {"status_reason": ""}) for pk, c in due], cause, now
    )
    for rule, caught_rows in caught.items():
        lifecycle.move_each(
            "release_suppressed",
            [(pk, c | {"status_reason": rule.cause[:500]}) for pk, c in caught_rows],
            rule.cause,
            now,
        )
    return released, done


def _held(
    user_id: str | None, anonymous_ids: list[str], browser_only: bool, limit: int
) -> list[tuple[int, Any, str]]:
    """(id, payload, Seg event) of the oldest ``limit`` held rows of these ids, by
    timestamp then id: each id's own indexed, limited read, merged."""
    held = Event.objects.filter(status=Status.HELD)
    if browser_only:
        held = held.filter(source=Source.BROWSER)
    parts = [held.filter(anonymous_id=value) for value in anonymous_ids]
    if user_id:
        parts.append(held.filter(user_id=user_id))
    queries = [
        part.order_by("timestamp", "id").values_list("id", "payload", "seg_event", "timestamp")[
            :limit
        ]
        for part in parts
    ]
    if not queries:
        return []
    found: dict[int, tuple[Any, ...]] = {}
    if connection.features.supports_slicing_ordering_in_compound and len(queries) > 1:
        combined = queries[0].union(*queries[1:], all=True).order_by()
        found = {row[0]: row for row in combined}
    else:
        for query in queries:
            found.update((row[0], row) for row in query)
    ordered = sorted(found.values(), key=lambda row: (row[3], row[0]))[:limit]
    return [(row[0], row[1], row[2]) for row in ordered]


def release_rest(user_id: str | None, anonymous_id: str | None, scope: str) -> int:
    """Release, batch by batch, what an identify left held past SEG_RELEASE_BATCH.

    Each batch is its own transaction, under the same locks as ingest, and its
    released events are queued as it commits. Returns how many were released.
    """
    release, total = Release(user_id, anonymous_id, scope), 0
    while True:
        with transaction.atomic():
            locks.lock_many(
                [
                    (Space.ANONYMOUS_ID, [anonymous_id] if anonymous_id else []),
                    (Space.USER_ID, [user_id] if user_id else []),
                ]
            )
            known = lookup(
                scope,
                (),
                {user_id} if user_id else set(),
                {anonymous_id} if anonymous_id else set(),
                set(),
            )
            resolver = Resolver.from_known(
                known.identities, known.aliases, set(), {user_id} if user_id else set()
            )
            ids, done = release_held(resolver, release, timezone.now())
            if ids:
                transaction.on_commit(partial(lifecycle.queue, ids))
        total += len(ids)
        if done or not ids:
            return total


def vouched(row: Event) -> bool:
    """Whether the server's word speaks for ``row``'s visitor: a call of the shop's
    server (or its history), or a page's that kept the userId it sent (signed, or tied
    by the server)."""
    return row.source != Source.BROWSER or bool(row.user_id)


def release_in_batch(rows: list[Event], resolver: Resolver, source: str, now: datetime) -> None:
    """Give a batch's earlier held ``rows`` (not stored yet) the email an identify in
    it just made known, as ``release_held`` does for stored ones."""
    for row in rows:
        if row.status != Status.HELD or row.payload is None:
            continue
        email = resolver.email_for(
            row.user_id or None, row.anonymous_id or None, source, vouched=vouched(row)
        )
        if not email:
            continue
        row.email, row.payload = email, with_email(row.payload, email)
        row.ingest_status = row.status = Status.PENDING
        row.status_reason = ""
        row.next_attempt_at = row.enqueued_at = now
        if rule := lifecycle.matching_rule(email, row.seg_event):
            row.ingest_status = row.status = Status.SUPPRESSED
            row.rule, row.status_reason = rule, rule.cause
            row.next_attempt_at = row.enqueued_at = None


def to_settle(rows: list[Event], releases: list[Release]) -> list[Release]:
    """What to settle once a caller's transaction commits (``settle``): the visitors of
    the rows stored held among ``rows``, and what each identify releases."""
    held = {
        Release(
            row.user_id or None,
            row.anonymous_id or None,
            Source.SERVER if vouched(row) else Source.BROWSER,
        )
        for row in rows
        if row.status == Status.HELD
    }
    return sorted(held | set(releases), key=repr)


def settle(releases: list[Release]) -> int:
    """After a caller's transaction committed calls stored in it without locks: run each
    release under the locks (``release_rest``). Whatever a concurrent request decided
    meanwhile, a held event whose email is known by now is released: each side
    writes, commits, then looks under the lock. Returns how many were released."""
    return sum(release_rest(r.user_id, r.anonymous_id, r.scope) for r in releases)
