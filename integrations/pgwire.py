"""A statement sent to PostgreSQL on Django's connection, its answer read later.

psycopg's cursors wait for each answer. A delivery worker stores an attempt's
outcome while it posts the next event, so it sends the statement and reads
the answer after the post: libpq's asynchronous commands (``PQsendQueryParams``,
then ``PQgetResult`` until it returns nothing), through psycopg's ``pq`` layer,
with psycopg's adapters for the parameters. The statement is unnamed (parsed
on each send), as Django's own are, so a pooler in transaction mode (PgBouncer)
serves it like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field

T = TypeVar("T")


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


def send(sql: str, params: Sequence[Any], answer: Callable[[bytes | None], T]) -> Callable[[], T]:
    """Send ``sql`` (``$n`` placeholders) with ``params`` on Django's connection, not waiting.

    When this returns the statement has left the process: the server runs it
    even if this process dies at once. Returns the reader: call it before the
    connection is used again; it waits for the answer and returns ``answer``
    of the first column of its first row (None for no row), or raises the
    statement's error as Django's database errors. PostgreSQL only; outside a
    transaction the statement is its own.
    """
    from psycopg import errors, pq
    from psycopg.adapt import PyFormat, Transformer

    connection.ensure_connection()
    raw = connection.connection
    dumped = Transformer(raw).dump_sequence(params, [PyFormat.TEXT] * len(params))
    pgconn = raw.pgconn
    with connection.wrap_database_errors:
        pgconn.send_query_params(sql.encode(), dumped)

    def read() -> T:
        value: bytes | None = None
        failed: Exception | None = None
        with connection.wrap_database_errors:
            while (result := pgconn.get_result()) is not None:
                if result.status == pq.ExecStatus.TUPLES_OK:
                    value = result.get_value(0, 0) if result.ntuples else None
                elif result.status != pq.ExecStatus.COMMAND_OK and failed is None:
                    failed = errors.error_from_result(result, encoding=raw.info.encoding)
            if failed is not None:
                raise failed
        return answer(value)

    return read
