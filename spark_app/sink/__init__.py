"""The exactly-once batch protocol (protocol.py) and one dialect module per database."""

from __future__ import annotations

from spark_app.common.database import DatabaseSettings
from spark_app.sink.dialect import Dialect


def dialect_for(settings: DatabaseSettings) -> Dialect:
    """The dialect of the configured sink."""
    if settings.kind == "postgresql":
        from spark_app.sink.postgresql import PostgreSQLDialect

        return PostgreSQLDialect(settings)
    from spark_app.sink.mysql import MySQLDialect

    return MySQLDialect(settings)
