"""A statement sent to PostgreSQL on Django's connection, its answer read later.

psycopg's cursors wait for each answer. A delivery worker stores an attempt's
outcome while it posts the next event, so it sends the statement and reads
the answer after the post: libpq's asynchronous commands (``PQsendQueryParams``,
then ``PQgetResult`` until it returns nothing), through psycopg's ``pq`` layer,
with psycopg's adapters for the parameters. The statement is prepared once
per connection (parsed and planned once, not on every send) unless the
connection's ``prepare_threshold`` is None, psycopg's own switch for poolers
that cannot keep prepared statements (PgBouncer in transaction mode before
1.21); then it is sent unnamed, parsed each time, as Django's own statements are.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field

T = TypeVar("T")

# The statements prepared on each psycopg connection, by name.
_prepared: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()
# SQLSTATE invalid_sql_statement_name: the session lost it (a pooler's DISCARD ALL);
# duplicate_prepared_statement: the session has it already.
_NO_SUCH_STATEMENT, _ALREADY_PREPARED = "26000", b"42P05"


class Parameters:
    """The placeholders of one statement, in order, each cast to the type it stands for:
    sent as text, a parameter takes its type from its cast. Numbered (``$1``, ``$2``…) for
    ``send``, or ``%s`` for a Django cursor (``numbered=False``)."""

    def __init__(self, numbered: bool = True) -> None:
        self.count = 0
        self.numbered = numbered

    def cast(self, db_type: str) -> str:
        """The next placeholder, cast to ``db_type`` (a PostgreSQL type name)."""
        self.count += 1
        return f"CAST({f'${self.count}' if self.numbered else '%s'} AS {db_type})"

    def of(self, field: Field[Any, Any]) -> str:
        """The next placeholder, for a value of ``field``. A ``varchar(n)`` is cast to text,
        so the column's own assignment refuses a value too long (an explicit cast to
        ``varchar(n)`` would cut it)."""
        db_type = str(field.cast_db_type(connection))
        return self.cast("text" if db_type.startswith("varchar") else db_type)


@functools.lru_cache(maxsize=64)
def _name(sql: str) -> bytes:
    """The prepared statement's name for ``sql``: the same in every process and session."""
    return b"seg_" + hashlib.sha256(sql.encode()).hexdigest()[:24].encode()


def send(sql: str, params: Sequence[Any], answer: Callable[[bytes | None], T]) -> Callable[[], T]:
    """Send ``sql`` (``$n`` placeholders) with ``params`` on Django's connection, not waiting.

    When this returns the statement has left the process (libpq's buffer is
    flushed to the socket, as psycopg does for its own queries): the server
    runs it even if this process dies at once. Returns the reader: call it
    before the connection is used again; it waits for the answer and returns
    ``answer`` of the first column of its first row (None for no row), or
    raises the statement's error, or OperationalError for no answer at all, as
    Django's database errors. A caller that cannot read it (an error or a time
    limit in between) calls ``drop_if_busy``. PostgreSQL only; outside a
    transaction the statement is its own.
    """
    from psycopg import errors, generators, pq, waiting
    from psycopg.adapt import PyFormat, Transformer

    connection.ensure_connection()
    raw = connection.connection
    dumped = Transformer(raw).dump_sequence(params, [PyFormat.TEXT] * len(params))
    pgconn = raw.pgconn
    name = _name(sql)
    prepare = raw.prepare_threshold is not None

    def send_it() -> None:
        with connection.wrap_database_errors:
            if prepare and name not in (known := _prepared.setdefault(raw, set())):
                result = pgconn.prepare(name, sql.encode())
                # 42P05: the session already has it (a pooler's session, kept).
                if result.status != pq.ExecStatus.COMMAND_OK and (
                    result.error_field(pq.DiagnosticField.SQLSTATE) != _ALREADY_PREPARED
                ):
                    raise errors.error_from_result(result, encoding=raw.info.encoding)
                known.add(name)
            if prepare:
                pgconn.send_query_prepared(name, dumped)
            else:
                pgconn.send_query_params(sql.encode(), dumped)
            waiting.wait(generators.send(pgconn), pgconn.socket)

    def read(again: bool = True) -> T:
        with connection.wrap_database_errors:
            results = waiting.wait(generators.fetch_many(pgconn), pgconn.socket)
            answered = [r for r in results if r.status == pq.ExecStatus.TUPLES_OK]
            ok = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
            failed = [r for r in results if r.status not in ok]
            if failed:
                error = errors.error_from_result(failed[0], encoding=raw.info.encoding)
                if again and prepare and error.sqlstate == _NO_SUCH_STATEMENT:
                    # Nothing ran: prepare it again and send it once more.
                    _prepared.get(raw, set()).discard(name)
                    send_it()
                    return read(again=False)
                raise error
            if not answered:
                raise errors.OperationalError("PostgreSQL gave no answer to the statement.")
        first = answered[0]
        return answer(first.get_value(0, 0) if first.ntuples else None)

    send_it()
    return read


def drop_if_busy() -> None:
    """Close Django's connection if a statement sent on it was never read back (an error or a
    Celery time limit came between ``send`` and its reader): that session can run nothing
    else, and the next query opens a new one. The statement itself still runs."""
    from psycopg import pq

    raw = connection.connection
    if (
        connection.vendor == "postgresql"
        and raw is not None
        and not raw.closed
        and raw.pgconn.transaction_status == pq.TransactionStatus.ACTIVE
    ):
        connection.close()
