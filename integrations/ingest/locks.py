"""Per-visitor locks: identity decisions at ingest are made under them, inside the write.

What ingest decides from what it reads (is this visitor known, which held rows
an identify releases, is this messageId stored) must not be made stale by a
request for the same visitor committing meanwhile: the first page after a login
sends identify, page and track at once. Ingest therefore takes a lock on each id
a call names before it reads, in the transaction that writes, and the lock is
held until that transaction ends.

On PostgreSQL they are transaction-level advisory locks, one per id, taken in one
global order (anonymousIds, then emails, then userIds; each by a 32-bit hash, so
two ids that collide merely share a lock). SQLite lets one transaction write at a
time: a no-op write takes its write lock, so everything ingest reads after it is
current until it commits. Other databases get no lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import IntEnum

from django.db import IntegrityError, connection

from ..models import Identity


class Space(IntEnum):
    """The first key of ``pg_advisory_xact_lock(int, int)``; also the order locks are taken in."""

    ANONYMOUS_ID = 0x5E601
    EMAIL = 0x5E602
    USER_ID = 0x5E603


def _key(value: str) -> int:
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock(space: Space, values: Iterable[str]) -> None:
    """Hold a lock on each of ``values`` in ``space`` until the current transaction ends
    (``lock_many`` of one space)."""
    lock_many([(space, values)])


def lock_many(groups: Iterable[tuple[Space, Iterable[str]]]) -> None:
    """Hold a lock on each value of each (space, values) until the current transaction
    ends; one statement for all of them.

    Call it inside a transaction (``transaction.atomic``). The locks are taken in
    one global order (by space, then key), so that two callers never wait on each
    other in a cycle; a caller that takes more later takes them in that order too.
    """
    pairs = sorted({(int(space), _key(v)) for space, values in groups for v in values if v})
    if not pairs:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(space, key)) "
                "FROM unnest(%s::int[], %s::int[]) AS locks(space, key)",
                [[space for space, _ in pairs], [key for _, key in pairs]],
            )
    elif connection.vendor == "sqlite":
        write_lock()


def write_lock() -> None:
    """On SQLite, take the database's write lock now (a write that changes nothing)."""
    if connection.vendor != "sqlite":
        return
    table = connection.ops.quote_name(Identity._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET id = id WHERE id < 0")  # noqa: S608


def lost_race(error: Exception) -> bool:
    """Whether a write failed only because another request won a race, so that it may
    simply be tried again: a repeat stored meanwhile (IntegrityError, the unique
    constraint), or PostgreSQL's deadlock detector breaking a cycle between two
    requests' locks (SQLSTATE 40P01)."""
    if isinstance(error, IntegrityError):
        return True
    return getattr(error.__cause__, "sqlstate", None) == "40P01"
