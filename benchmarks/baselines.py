"""What a user would otherwise write: plain loaders of the same files into a plain table."""

from __future__ import annotations

import csv
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import mysql.connector

from localmysql import AppAccount

PLAIN_TABLE = "events_plain"
# Printed by plain_spark_jdbc.py with the seconds its write loop took.
WRITES_MARKER = "plain-spark-jdbc writes seconds:"
COLUMNS = ("event_id", "user_id", "product_id", "event_type", "price", "event_time")

# The contract's columns and key, without validation or lineage: nullable, as naive loaders
# write empty fields.
PLAIN_DDL = f"""
CREATE TABLE IF NOT EXISTS {PLAIN_TABLE} (
    event_id   VARCHAR(64)   NOT NULL PRIMARY KEY,
    user_id    VARCHAR(64)   NULL,
    product_id VARCHAR(64)   NULL,
    event_type VARCHAR(32)   NULL,
    price      DECIMAL(10,2) NULL,
    event_time DATETIME(6)   NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


def connect(account: AppAccount, **extra: object) -> mysql.connector.MySQLConnection:
    """A connection of the benchmark's account."""
    return mysql.connector.connect(  # type: ignore[return-value]
        host=account.host,
        port=account.port,
        user=account.user,
        password=account.password,
        database=account.database,
        **extra,
    )


def create_plain_table(account: AppAccount) -> None:
    connection = connect(account)
    try:
        cursor = connection.cursor()
        cursor.execute(PLAIN_DDL)
        connection.commit()
    finally:
        connection.close()


def _row(fields: list[str]) -> tuple[Any, ...]:
    event_id, user_id, product_id, event_type, price, event_time = fields
    return (
        event_id,
        user_id or None,
        product_id,
        event_type,
        price,
        datetime.fromisoformat(event_time).replace(tzinfo=None),
    )


def executemany_loader(account: AppAccount, files: list[Path], chunk: int = 10_000) -> float:
    """The seeds' loader: csv module + executemany, a commit per file. Returns seconds."""
    create_plain_table(account)
    sql = f"INSERT INTO {PLAIN_TABLE} ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)"
    started = time.monotonic()
    connection = connect(account)
    try:
        cursor = connection.cursor()
        for path in files:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                next(reader)
                rows = [_row(fields) for fields in reader]
            for start in range(0, len(rows), chunk):
                cursor.executemany(sql, rows[start : start + chunk])
            connection.commit()
    finally:
        connection.close()
    return time.monotonic() - started


def load_data_loader(account: AppAccount, files: list[Path]) -> float:
    """MySQL's bulk path: LOAD DATA LOCAL INFILE per file. Returns seconds."""
    create_plain_table(account)
    started = time.monotonic()
    connection = connect(
        account, allow_local_infile=True, allow_local_infile_in_path=str(files[0].parent)
    )
    try:
        cursor = connection.cursor()
        for path in files:
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {PLAIN_TABLE}"
                " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
                " LINES TERMINATED BY '\\n' IGNORE 1 LINES"
                " (event_id, @user_id, product_id, event_type, price, @event_time)"
                " SET user_id = NULLIF(@user_id, ''),"
                " event_time = STR_TO_DATE(@event_time, '%Y-%m-%dT%H:%i:%S.%fZ')",
                (str(path),),
            )
            connection.commit()
    finally:
        connection.close()
    return time.monotonic() - started


def count_plain(account: AppAccount) -> int:
    connection = connect(account)
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM {PLAIN_TABLE}")
        row = cursor.fetchone()
        return int(str(row[0])) if row else 0
    finally:
        connection.close()
