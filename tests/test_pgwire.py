"""Statements sent to PostgreSQL and read back later (integrations/lifecycle/pgwire.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from integrations.lifecycle import pgwire

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("libpq's asynchronous commands")


def test_the_answer_is_read_after_the_caller_did_other_work() -> None:
    read = pgwire.send("SELECT CAST($1 AS integer) + 1", [41], lambda value: int(value or 0))
    assert read() == 42


def test_an_error_comes_back_as_djangos_and_the_connection_goes_on() -> None:
    from django.db import DataError

    read = pgwire.send("SELECT CAST($1 AS integer)", ["not a number"], lambda value: value)
    with pytest.raises(DataError):
        read()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_statement_never_read_costs_the_session_not_the_next_query() -> None:
    # An error or a time limit between the send and its reader: the session still
    # has the statement running, so it is closed, and the next query opens another.
    pgwire.send("SELECT pg_sleep(0.2)", [], lambda value: value)
    before = connection.connection
    pgwire.drop_if_busy()
    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not before
    pgwire.drop_if_busy()  # nothing pending: the connection stays
    assert connection.connection is not None
