"""The exactly-once batch protocol (protocol.py) and one dialect per database (mysql/,
postgresql/); drivers.py connects and reads errors for callers that have only settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spark_app.common.database import DatabaseSettings

if TYPE_CHECKING:  # the dialects load Arrow; a command that only connects does not need them
    from spark_app.sink.dialect import Dialect


def dialect_for(settings: DatabaseSettings) -> Dialect:
    """The dialect of the configured sink."""
    if settings.kind == "postgresql":
        from spark_app.sink.postgresql.dialect import PostgreSQLDialect

        return PostgreSQLDialect(settings)
    from spark_app.sink.mysql.dialect import MySQLDialect

    return MySQLDialect(settings)
