"""Driver errors seen one way (spark_app.common.errors): which, missing tables, one-line text."""

from __future__ import annotations

import mysql.connector
import psycopg
import pytest

from spark_app.common.errors import database_errors, is_missing_table, summarize


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
