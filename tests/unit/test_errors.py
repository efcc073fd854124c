"""Driver errors seen one way (spark_app.sink.drivers: which, missing tables, duplicate keys),
each database's connection arguments, and one-line text for any error (spark_app.common.errors)."""

from __future__ import annotations

import sys

import mysql.connector
import psycopg
import pytest

from spark_app.common.database import DatabaseSettings
from spark_app.common.errors import summarize
from spark_app.sink import mysql as mysql_sink
from spark_app.sink import postgresql as pg_sink
from spark_app.sink.drivers import database_errors, is_duplicate_key, is_missing_table


def test_database_errors_are_both_drivers_and_the_extra_ones() -> None:
    assert database_errors() == (mysql.connector.Error, psycopg.Error)
    assert database_errors(OSError, KeyError) == (
        mysql.connector.Error,
        psycopg.Error,
        OSError,
        KeyError,
    )


@pytest.mark.parametrize(
    ("error", "missing"),
    [
        (mysql.connector.ProgrammingError(msg="Table 'x.y' doesn't exist", errno=1146), True),
        (mysql.connector.ProgrammingError(msg="Access denied", errno=1045), False),
        (mysql.connector.Error(msg="no errno"), False),
        (psycopg.errors.UndefinedTable('relation "ingest_batches" does not exist'), True),
        (psycopg.errors.UndefinedColumn('column "x" does not exist'), False),
        (RuntimeError("Table doesn't exist"), False),
    ],
)
def test_is_missing_table(error: BaseException, missing: bool) -> None:
    assert is_missing_table(error) is missing


@pytest.mark.parametrize(
    ("error", "duplicate"),
    [
        (mysql.connector.IntegrityError(msg="Duplicate entry", errno=1062), True),
        (mysql.connector.IntegrityError(msg="Cannot be null", errno=1048), False),
        (psycopg.errors.UniqueViolation("duplicate key value"), True),
        (psycopg.errors.NotNullViolation("null value"), False),
        (RuntimeError("Duplicate entry"), False),
    ],
)
def test_is_duplicate_key(error: BaseException, duplicate: bool) -> None:
    assert is_duplicate_key(error) is duplicate


def test_without_psycopg_the_errors_are_mysql_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    assert database_errors(OSError) == (mysql.connector.Error, OSError)
    assert not is_missing_table(mysql.connector.Error(msg="no errno"))


def test_mysql_connect_args() -> None:
    settings = DatabaseSettings(
        "mysql", "db", 3307, "ingest", "app", "pw", "VERIFY_IDENTITY", "/ca"
    )
    args = mysql_sink.connect_args(settings, 5)
    assert {k: args[k] for k in ("host", "port", "database", "user", "password")} == {
        "host": "db", "port": 3307, "database": "ingest", "user": "app", "password": "pw",
    }  # fmt: skip
    assert (args["connection_timeout"], args["autocommit"], args["time_zone"]) == (
        5,
        False,
        "+00:00",
    )
    assert (args["ssl_ca"], args["ssl_verify_cert"], args["ssl_verify_identity"]) == (
        "/ca",
        True,
        True,
    )
    disabled = mysql_sink.connect_args(
        DatabaseSettings("mysql", "db", 3306, "ingest", "app", "", "DISABLED"), 10
    )
    assert disabled["ssl_disabled"] is True and "ssl_verify_cert" not in disabled


def test_postgresql_connect_args() -> None:
    settings = DatabaseSettings("postgresql", "db", 5433, "ingest", "app", "", "verify-full", "/ca")
    assert pg_sink.connect_args(settings, 5) == {
        "host": "db", "port": 5433, "dbname": "ingest", "user": "app", "connect_timeout": 5,
        "autocommit": False, "options": "-c TimeZone=UTC", "sslmode": "verify-full",
        "sslrootcert": "/ca",
    }  # fmt: skip


def test_summarize_picks_the_sql_cause_of_a_java_trace() -> None:
    trace = (
        "An error occurred while calling o123.save.\n"
        ": org.apache.spark.SparkException: Job aborted.\n"
        "\tat org.apache.spark.Foo.bar(Foo.scala:1)\n"
        "Caused by: java.sql.SQLSyntaxErrorException: Table 'ingest.events' doesn't exist\n"
        "\tat com.mysql.cj.jdbc.Foo(Foo.java:2)\n"
    )
    assert summarize(RuntimeError(trace)) == (
        "Caused by: java.sql.SQLSyntaxErrorException: Table 'ingest.events' doesn't exist"
    )


def test_summarize_is_the_first_line_at_most_300_characters() -> None:
    assert summarize(ValueError("first line\nsecond line")) == "first line"
    assert summarize(ValueError("x" * 1000)) == "x" * 300
    assert summarize(ValueError("")) == "ValueError"
    assert summarize(ValueError("  \n ")) == "ValueError"
