"""Reading the sink back, for assertions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import mysql.connector

from localmysql import AppAccount


def query(account: AppAccount, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one statement, as the application account sees them."""
    connection = mysql.connector.connect(
        host=account.host,
        port=account.port,
        user=account.user,
        password=account.password,
        database=account.database,
    )
    try:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return list(cursor.fetchall())  # type: ignore[arg-type]
    finally:
        connection.close()


def events(account: AppAccount) -> dict[str, tuple[Any, ...]]:
    """events keyed by event_id: (user, product, type, price, time, file name, line)."""
    rows = query(
        account,
        "SELECT event_id, user_id, product_id, event_type, price, event_time, source_file,"
        " source_line FROM events",
    )
    return {
        row[0]: (row[1], row[2], row[3], Decimal(row[4]), row[5], row[6].rsplit("/", 1)[-1], row[7])
        for row in rows
    }


def rejected(account: AppAccount) -> list[tuple[str, str, int]]:
    """events_rejected as sorted (file name, reason, line)."""
    rows = query(account, "SELECT source_file, reason, source_line FROM events_rejected")
    return sorted((row[0].rsplit("/", 1)[-1], row[1], row[2]) for row in rows)


def totals(account: AppAccount) -> tuple[int, int, int, int]:
    """Summed accounting of ingest_batches: read, written, duplicate, rejected."""
    row = query(
        account,
        "SELECT COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_written), 0),"
        " COALESCE(SUM(rows_duplicate), 0), COALESCE(SUM(rows_rejected), 0) FROM ingest_batches",
    )[0]
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])
