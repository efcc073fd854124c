"""Errors of either database driver, seen the same way by the job and the commands."""

from __future__ import annotations

import re

import mysql.connector

_JAVA_SQL_ERROR = re.compile(r"(java\.sql\.\w+|\w+\.jdbc\.\w*Exception|SQL\w*Exception)")
_MYSQL_NO_SUCH_TABLE = 1146
_POSTGRESQL_NO_SUCH_TABLE = "42P01"


def _psycopg_error() -> type[BaseException] | None:
    try:
        import psycopg
    except ImportError:
        return None
    return psycopg.Error


def database_errors(*extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The base error classes of the installed database drivers, and `extra` ones."""
    pg = _psycopg_error()
    drivers = (mysql.connector.Error,) if pg is None else (mysql.connector.Error, pg)
    return (*drivers, *extra)


def is_missing_table(exc: BaseException) -> bool:
    """True for 'table does not exist' (the app has not created its tables yet)."""
    if isinstance(exc, mysql.connector.Error):
        return exc.errno == _MYSQL_NO_SUCH_TABLE
    return getattr(exc, "sqlstate", None) == _POSTGRESQL_NO_SUCH_TABLE


def summarize(exc: BaseException) -> str:
    """One line for an error: the SQL cause of a Java stack trace, or the message."""
    text = str(exc)
    for line in text.splitlines():
        if _JAVA_SQL_ERROR.search(line):
            return line.strip()[:300]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]
