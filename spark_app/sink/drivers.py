"""The database drivers for callers that hold settings, not a dialect: one way to connect,
and their errors seen one way (the commands, the run recorder, scripts and tests).

Each database's connection arguments and codes are its own (mysql/, postgresql/); this module
chooses by `settings.kind`, or asks each driver. Neither loads Arrow nor, until a PostgreSQL
connection or error needs it, psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spark_app.common.database import DatabaseSettings
from spark_app.sink import mysql, postgresql


def open_connection(settings: DatabaseSettings, timeout: int = 10, **extra: Any) -> Any:
    """A new DB-API connection (autocommit off, session zone UTC); the caller closes it."""
    if settings.kind == "mysql":
        return mysql.open_connection(settings, timeout, **extra)
    return postgresql.open_connection(settings, timeout, **extra)


@contextmanager
def connect(settings: DatabaseSettings, timeout: int = 10, **extra: Any) -> Iterator[Any]:
    """A connection that is closed on exit (see open_connection)."""
    connection = open_connection(settings, timeout, **extra)
    try:
        yield connection
    finally:
        connection.close()


def database_errors(*extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The base error classes of the installed database drivers, and `extra` ones."""
    pg = postgresql.driver_error()  # None where psycopg is not installed
    drivers = (mysql.driver_error(),) if pg is None else (mysql.driver_error(), pg)
    return (*drivers, *extra)


def is_missing_table(exc: BaseException) -> bool:
    """True for 'table does not exist' (the app has not created its tables yet)."""
    return mysql.is_missing_table(exc) or postgresql.is_missing_table(exc)


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether an insert hit a primary or unique key that is already there."""
    return mysql.is_duplicate_key(exc) or postgresql.is_duplicate_key(exc)
