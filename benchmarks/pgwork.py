"""PostgreSQL's work per delivered event, read from the server itself in the run.

Events are made the way most shops make them, one per transaction (an order and
its ``integrations.api`` call, from 4 threads), while a worker of 4 processes
delivers them to the sandbox. Around the whole of it:

- WAL bytes: the records written between two ``pg_current_wal_lsn()``, read with
  ``pg_walinspect`` and kept only if they touch this database's relations, or
  commit or abort a transaction that did (other databases on the same server
  write WAL too; ``pg_current_wal_lsn()`` alone would count theirs);
- index entries: the B-tree leaf insertions among those records (one a new
  entry, whether for a new row or for a new version that was not a HOT update);
- rows written: ``n_tup_ins`` + ``n_tup_upd`` (and of those ``n_tup_hot_upd``)
  of ``pg_stat_all_tables``, over the app's tables and their TOAST tables.

Each is divided by the events delivered. The shop's own order rows (auth_group)
are outside the app's tables and are counted out of WAL and index entries by
their relation; what remains is the app's own work.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection, transaction

from benchmarks import harness
from benchmarks.calls import record as record  # re-exported: benchmarks.run uses it
from benchmarks.harness import Row

# The app's tables, their TOAST tables, and the indexes of both (oids).
_APP_RELATIONS = (
    "SELECT c.oid FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid "
    "JOIN pg_class t ON t.oid = coalesce(i.indrelid, c.oid) "
    "WHERE (t.relname LIKE 'integrations\\_%' OR t.oid IN (SELECT reltoastrelid FROM pg_class "
    "WHERE relname LIKE 'integrations\\_%'))"
)


def _scalar(sql: str, params: tuple[Any, ...] = ()) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _table_counts() -> tuple[int, int, int]:
    """Rows inserted, updated and HOT-updated so far in the app's tables."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), "
            "coalesce(sum(n_tup_hot_upd), 0) FROM pg_stat_all_tables WHERE relid IN ("
            f"{_APP_RELATIONS} AND c.relkind IN ('r', 't'))"
        )
        ins, upd, hot = cursor.fetchone()
    return int(ins), int(upd), int(hot)


def _wal_between(start: str, end: str) -> tuple[int, int]:
    """WAL bytes and B-tree leaf insertions between two LSNs that belong to this database's
    app tables (their heap and indexes), with the commits of the transactions that wrote them."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        cursor.execute(
            f"SELECT pg_relation_filenode(oid) FROM pg_class WHERE oid IN ({_APP_RELATIONS})"
        )
        nodes = {str(node) for (node,) in cursor.fetchall() if node is not None}
        oid = _scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
        cursor.execute(
            "SELECT xid, resource_manager, record_type, record_length, block_ref "
            "FROM pg_get_wal_records_info(%s::pg_lsn, %s::pg_lsn)",
            (start, end),
        )
        records = cursor.fetchall()
    prefix = f"/{oid}/"
    ours: set[int] = set()
    total = entries = 0
    commits: list[tuple[int, int]] = []
    for xid, manager, kind, length, blocks in records:
        if manager == "Transaction":
            commits.append((int(xid), int(length)))
            continue
        refs = [
            part.split()[0].rsplit("/", 1)[1]
            for part in (blocks or "").split("rel ")[1:]
            if prefix in part.split()[0]
        ]
        if not refs or not any(ref in nodes for ref in refs):
            continue
        ours.add(int(xid))
        total += int(length)
        if manager == "Btree" and kind in ("INSERT_LEAF", "INSERT_POST"):
            entries += 1
    total += sum(length for xid, length in commits if xid in ours)
    return total, entries


def measure(
    tracker: str,
    count: int,
    make: Callable[[int, str], dict[str, Any]],
    record: Callable[[dict[str, Any]], None],
    delivered: Callable[[], int],
    threads: int = 4,
) -> list[Row]:
    """Ingest ``count`` events one per transaction while a 4-process worker delivers them;
    PostgreSQL's work per delivered event as rows (WAL bytes, rows, index entries)."""
    tag = f"w{uuid.uuid4().hex[:6]}"
    items = [make(i, tag) for i in range(count)]
    proc = harness.worker(4, tracker, name="pgwork")
    # A temporary slot keeps the run's WAL from being recycled before it is read (other
    # databases on the server may write a lot meanwhile); it goes with this session.
    slot = f"seg_pgwork_{uuid.uuid4().hex[:8]}"
    _scalar("SELECT pg_create_physical_replication_slot(%s, true, true)", (slot,))
    try:
        time.sleep(1)
        ins0, upd0, hot0 = _table_counts()
        start = _scalar("SELECT pg_current_wal_lsn()::text")

        def work(index: int) -> None:
            for item in items[index::threads]:
                with transaction.atomic():
                    Group.objects.create(name=item["messageId"])
                    record(item)
            connection.close()

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        harness.wait_for(lambda: delivered() >= count, timeout=900, every=0.1)
        end = _scalar("SELECT pg_current_wal_lsn()::text")
    finally:
        proc.stop()
    time.sleep(1.5)  # each backend reports its table counts within a second of going idle
    ins1, upd1, hot1 = _table_counts()
    try:
        wal, entries = _wal_between(start, end)
    finally:
        _scalar("SELECT pg_drop_replication_slot(%s)", (slot,))
    Group.objects.filter(name__startswith=f"{tag}-").delete()
    rows = (ins1 - ins0) + (upd1 - upd0)
    how = f"{count} events, one per transaction (4 shop threads), 4 worker processes"
    return [
        Row("PostgreSQL per delivered event: WAL bytes", wal / count, "bytes", note=how),
        Row(
            "PostgreSQL per delivered event: rows written",
            rows / count,
            "rows",
            note=(
                f"inserted {(ins1 - ins0) / count:.2f}, updated {(upd1 - upd0) / count:.2f} "
                f"(HOT {(hot1 - hot0) / count:.2f}); pg_stat_all_tables, app and TOAST tables"
            ),
        ),
        Row(
            "PostgreSQL per delivered event: index entries written",
            entries / count,
            "entries",
            note="B-tree leaf insertions in the WAL, app tables",
        ),
    ]
