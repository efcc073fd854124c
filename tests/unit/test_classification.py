"""What each database error means to the stream, per dialect: retry it (transient), narrow the
chunk down to the rows refused (row refusal), or stop with one line (anything else); and the
accounting check that guards every batch record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import mysql.connector
import psycopg.errors
import pytest

from spark_app.common.database import DatabaseSettings
from spark_app.sink.batch import BatchKey, FileEntry
from spark_app.sink.dialect import RowsMissingError
from spark_app.sink.mysql.dialect import LoadWarningError, MySQLDialect
from spark_app.sink.postgresql.dialect import PostgreSQLDialect
from spark_app.sink.protocol import AccountingError, Tally, check_accounting

SETTINGS = DatabaseSettings("mysql", "127.0.0.1", 3306, "ingest", "app", "")


@pytest.fixture(scope="module")
def mysql_dialect() -> Iterator[MySQLDialect]:
    dialect = MySQLDialect(SETTINGS)
    yield dialect
    dialect.close()
    assert not dialect.load_dir.exists()  # the private load folder does not leak


@pytest.fixture(scope="module")
def pg_dialect() -> PostgreSQLDialect:
    return PostgreSQLDialect(DatabaseSettings("postgresql", "127.0.0.1", 5432, "i", "app", ""))


def _mysql(errno: int) -> mysql.connector.Error:
    return mysql.connector.DatabaseError(msg=f"error {errno}", errno=errno)


@pytest.mark.parametrize(
    ("errno", "meaning"),
    [
        (2013, "transient"),  # lost connection
        (2003, "transient"),  # cannot connect
        (1213, "transient"),  # deadlock
        (1205, "transient"),  # lock wait timeout
        (1053, "transient"),  # server shutting down
        (3819, "row"),  # MySQL CHECK constraint
        (4025, "row"),  # MariaDB CHECK constraint
        (1644, "row"),  # a trigger's SIGNAL
        (1406, "row"),  # data too long
        (1264, "row"),  # out of range
        (1452, "row"),  # foreign key
        (1142, "stop"),  # command denied: a missing right
        (1146, "stop"),  # no such table
        (1054, "stop"),  # unknown column: the schema changed by hand
        (3948, "stop"),  # LOAD DATA LOCAL turned off
        (1114, "stop"),  # table full
    ],
)
def test_mysql_errors(mysql_dialect: MySQLDialect, errno: int, meaning: str) -> None:
    error = _mysql(errno)
    assert mysql_dialect.is_transient(error) == (meaning == "transient")
    assert mysql_dialect.is_row_refusal(error) == (meaning == "row")
    assert mysql_dialect.error_code(error) == str(errno)


def test_mysql_load_problems_are_row_refusals(mysql_dialect: MySQLDialect) -> None:
    for error in (LoadWarningError("4025 CONSTRAINT failed"), RowsMissingError("e1 missing")):
        assert mysql_dialect.is_row_refusal(error)
        assert not mysql_dialect.is_transient(error)
    assert mysql_dialect.refusal_message(LoadWarningError("4025 CONSTRAINT `cap` failed")) == (
        "4025 CONSTRAINT `cap` failed"
    )


def test_a_lost_connection_without_a_number_is_transient(mysql_dialect: MySQLDialect) -> None:
    assert mysql_dialect.is_transient(mysql.connector.OperationalError(msg="gone"))
    assert mysql_dialect.is_duplicate_key(_mysql(1062))
    assert not mysql_dialect.is_transient(ValueError("not the database"))
    assert mysql_dialect.error_code(ValueError("x")) is None


@pytest.mark.parametrize(
    ("sqlstate", "meaning"),
    [
        ("40001", "transient"),  # serialization failure
        ("40P01", "transient"),  # deadlock
        ("55P03", "transient"),  # lock not available (lock_timeout)
        ("57P01", "transient"),  # admin shutdown
        ("08006", "transient"),  # connection failure
        ("53300", "transient"),  # too many connections
        ("23514", "row"),  # CHECK constraint
        ("23502", "row"),  # NOT NULL
        ("23503", "row"),  # foreign key
        ("22001", "row"),  # value too long
        ("22003", "row"),  # numeric out of range
        ("P0001", "row"),  # a trigger's RAISE EXCEPTION
        ("42501", "stop"),  # insufficient privilege
        ("42P01", "stop"),  # undefined table
        ("42703", "stop"),  # undefined column
        ("53100", "stop"),  # disk full
        ("57014", "stop"),  # statement timeout (query canceled)
    ],
)
def test_postgresql_errors(pg_dialect: PostgreSQLDialect, sqlstate: str, meaning: str) -> None:
    error = psycopg.errors.lookup(sqlstate)(f"state {sqlstate}")
    assert pg_dialect.is_transient(error) == (meaning == "transient")
    assert pg_dialect.is_row_refusal(error) == (meaning == "row")


def test_postgresql_connection_errors_without_state_are_transient(
    pg_dialect: PostgreSQLDialect,
) -> None:
    assert pg_dialect.is_transient(psycopg.OperationalError("server closed the connection"))
    assert not pg_dialect.is_row_refusal(psycopg.OperationalError("x"))
    assert pg_dialect.is_duplicate_key(psycopg.errors.lookup("23505")("dup"))


KEY = BatchKey("q", 3)
T0 = datetime(2026, 1, 1)


def test_accounting_that_adds_up_passes() -> None:
    tally = Tally(rows_read=10, events_written=5, duplicates=2, rejected=1, users=1, products=1)
    assert check_accounting(KEY, tally, [FileEntry("a", T0, 6), FileEntry("b", T0, 4)]) == 7


def test_accounting_that_does_not_add_up_rolls_the_batch_back() -> None:
    tally = Tally(rows_read=10, events_written=5, duplicates=2, rejected=1)
    with pytest.raises(AccountingError, match="read 10 != written 5 \\+ duplicate 2"):
        check_accounting(KEY, tally, [FileEntry("a", T0, 10)])


def test_a_lost_chunk_is_caught_by_the_files_record_counts() -> None:
    tally = Tally(rows_read=8, events_written=8)
    with pytest.raises(AccountingError, match="counted 10 records, the chunks held 8"):
        check_accounting(KEY, tally, [FileEntry("a", T0, 10)])
