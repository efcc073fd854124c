"""PostgreSQL as its driver (psycopg) sees it: how to connect, and what its SQLSTATEs mean.

The dialect (dialect.py: COPY, upserts, grants) reads its codes from here. This module loads
neither Arrow nor psycopg, so the commands connect through it (sink.drivers) without the
dialect, and a MySQL-only installation may lack psycopg: it is imported only to connect.
"""

from __future__ import annotations

from typing import Any

from spark_app.common.database import DatabaseSettings

NO_SUCH_TABLE = "42P01"
UNIQUE_VIOLATION = "23505"
PERMISSION_STATE = "42501"
# Worth a retry: serialization failures, deadlocks, server shutdown or overload.
TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})
# The database refused some rows' values: data exceptions (class 22), integrity constraints
# (class 23: NOT NULL, foreign key, unique, CHECK) and a trigger's RAISE EXCEPTION (P0001).
ROW_REFUSAL_CLASSES = ("22", "23")
RAISE_EXCEPTION = "P0001"


def connect_args(settings: DatabaseSettings, timeout: int) -> dict[str, Any]:
    """psycopg.connect()'s arguments: autocommit off, session time zone UTC."""
    args: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "dbname": settings.database,
        "user": settings.user,
        "connect_timeout": timeout,
        "autocommit": False,
        # Timestamps hold UTC; the server's own TimeZone must not shift what we read or write.
        "options": "-c TimeZone=UTC",
    }
    if settings.password:
        args["password"] = settings.password
    if settings.ssl_mode:
        args["sslmode"] = settings.ssl_mode
    if settings.ssl_ca:
        args["sslrootcert"] = settings.ssl_ca
    return args


def open_connection(settings: DatabaseSettings, timeout: int, **extra: Any) -> Any:
    """A new connection (connect_args, `extra` added or replacing); the caller closes it."""
    import psycopg

    return psycopg.connect(**{**connect_args(settings, timeout), **extra})


def driver_error() -> type[BaseException] | None:
    """The base class of the driver's errors; None when psycopg is not installed."""
    try:
        import psycopg
    except ImportError:
        return None
    return psycopg.Error


def is_missing_table(exc: BaseException) -> bool:
    """True for 'relation does not exist' (psycopg's errors carry their SQLSTATE: no import)."""
    return getattr(exc, "sqlstate", None) == NO_SUCH_TABLE


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether an insert hit a primary or unique key that is already there (by SQLSTATE)."""
    return getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION
