"""MySQL statements of the sink, run from the driver with mysql-connector-python.

Every value is a bound parameter; the only names put into SQL are the fixed table names here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import mysql.connector
from mysql.connector.abstracts import MySQLConnectionAbstract

from spark_app.job.config import MySQLSettings

STAGING_TABLE = "events_staging"

_EVENT_COLUMNS = "event_id, user_id, product_id, event_type, price, event_time"


@dataclass(frozen=True)
class BatchKey:
    """A micro-batch, across restarts: the checkpoint's query id and Spark's batch id."""

    query_id: str
    batch_id: int


@dataclass(frozen=True)
class BatchCounts:
    """What one committed batch did. rows_read = written + duplicate + rejected."""

    files: int
    rows_read: int
    rows_written: int
    rows_duplicate: int
    rows_rejected: int
    oldest_file_age_s: float | None
    newest_file_age_s: float | None


@dataclass(frozen=True)
class BatchTimings:
    """Where a batch's time went, and how many retries it needed."""

    stage_ms: int
    commit_ms: int
    retries: int


def schema_statements() -> list[str]:
    """The CREATE statements of sql/schema.sql (comments removed)."""
    text = resources.files("spark_app.sink").joinpath("sql/schema.sql").read_text("utf-8")
    text = re.sub(r"--[^\n]*", "", text)
    return [statement.strip() for statement in text.split(";") if statement.strip()]


@contextmanager
def connect(settings: MySQLSettings, timeout: int = 10) -> Iterator[MySQLConnectionAbstract]:
    """A connection that is closed on exit; autocommit off; `timeout` seconds to connect."""
    connection = mysql.connector.connect(
        **{**settings.connector_args(), "connection_timeout": timeout}
    )
    try:
        yield connection  # type: ignore[misc]
    finally:
        connection.close()


def apply_schema(settings: MySQLSettings) -> None:
    """Create the sink's tables where absent."""
    with connect(settings) as connection:
        cursor = connection.cursor()
        for statement in schema_statements():
            cursor.execute(statement)
        connection.commit()


def is_committed(connection: MySQLConnectionAbstract, key: BatchKey) -> bool:
    """True when this batch was committed before (a replay after a crash or a retry)."""
    cursor = connection.cursor()
    cursor.execute(
        "SELECT 1 FROM ingest_batches WHERE query_id = %s AND batch_id = %s",
        (key.query_id, key.batch_id),
    )
    found = cursor.fetchone() is not None
    connection.commit()
    return found


def clear_staging(
    connection: MySQLConnectionAbstract, key: BatchKey, *, earlier_too: bool = False
) -> None:
    """Delete the staged rows of this batch (and of the query's earlier ones: `earlier_too`).

    Before an attempt: what an earlier, failed attempt left. After a commit (earlier_too, from
    the background purge): the batch's rows, and any a crash kept from recorded batches.
    """
    cursor = connection.cursor()
    # Row locks only: no gap locks against the next batch's rows being staged meanwhile.
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cursor.execute(
        f"DELETE FROM {STAGING_TABLE} WHERE query_id = %s"
        f" AND batch_id {'<=' if earlier_too else '='} %s",
        (key.query_id, key.batch_id),
    )
    connection.commit()


def _fetch_one(connection: MySQLConnectionAbstract, sql: str, params: tuple[Any, ...]) -> Any:
    cursor = connection.cursor()
    cursor.execute(sql, params)
    return cursor.fetchone()


def commit_batch(
    connection: MySQLConnectionAbstract,
    key: BatchKey,
    run_id: str,
    stage_ms: int,
    retries: int,
    started: float,
    clock: Any,
) -> tuple[BatchCounts, BatchTimings]:
    """Move a staged batch into events / events_rejected and record it, in one transaction.

    The first committed row of an event_id wins: a staged row whose id is already in events,
    or repeats an earlier row of the same batch, counts as a duplicate and is not written.
    """
    params = (key.query_id, key.batch_id)
    commit_started = clock()
    connection.start_transaction()
    try:
        # Locks the batch's slot first, so two writers of one batch cannot both commit it.
        cursor = connection.cursor()
        cursor.execute(
            "SELECT 1 FROM ingest_batches WHERE query_id = %s AND batch_id = %s FOR UPDATE",
            params,
        )
        if cursor.fetchone() is not None:
            connection.rollback()
            raise BatchAlreadyCommitted(key)
        read, valid, files, oldest, newest = _fetch_one(
            connection,
            "SELECT COUNT(*), COALESCE(SUM(reason IS NULL), 0), COUNT(DISTINCT source_file),"
            " TIMESTAMPDIFF(MICROSECOND, MIN(file_modified), UTC_TIMESTAMP(6)) / 1000000,"
            " TIMESTAMPDIFF(MICROSECOND, MAX(file_modified), UTC_TIMESTAMP(6)) / 1000000"
            f" FROM {STAGING_TABLE} WHERE query_id = %s AND batch_id = %s",
            params,
        )
        cursor.execute(
            f"INSERT INTO events ({_EVENT_COLUMNS},"
            " source_file, source_line, query_id, batch_id, ingested_at)"
            f" SELECT {_EVENT_COLUMNS}, source_file, source_line, query_id, batch_id,"
            " UTC_TIMESTAMP(6)"
            f" FROM {STAGING_TABLE}"
            " WHERE query_id = %s AND batch_id = %s AND reason IS NULL"
            # Key order: InnoDB fills pages in sequence (twice as fast as file order), and
            # within one event_id the earliest file and line still comes first and wins.
            " ORDER BY event_id, source_file, source_line"
            # A no-op update: the existing row stays and counts 0 affected rows.
            " ON DUPLICATE KEY UPDATE event_id = events.event_id",
            params,
        )
        written = cursor.rowcount
        cursor.execute(
            "INSERT INTO events_rejected (reason, detail, source_file, source_line, raw_line,"
            " query_id, batch_id, rejected_at)"
            " SELECT reason, detail, source_file, source_line, COALESCE(raw_line, ''),"
            " query_id, batch_id, UTC_TIMESTAMP(6)"
            f" FROM {STAGING_TABLE}"
            " WHERE query_id = %s AND batch_id = %s AND reason IS NOT NULL"
            " ORDER BY source_file, source_line",
            params,
        )
        rejected = cursor.rowcount
        counts = BatchCounts(
            files=int(files),
            rows_read=int(read),
            rows_written=int(written),
            rows_duplicate=int(valid) - int(written),
            rows_rejected=int(rejected),
            oldest_file_age_s=None if oldest is None else float(oldest),
            newest_file_age_s=None if newest is None else float(newest),
        )
        commit_ms = int((clock() - commit_started) * 1000)
        total_ms = int((clock() - started) * 1000)
        rate = counts.rows_read / max(total_ms / 1000, 0.001)
        cursor.execute(
            "INSERT INTO ingest_batches (query_id, batch_id, run_id, committed_at, files,"
            " rows_read, rows_written, rows_duplicate, rows_rejected, stage_ms, commit_ms,"
            " total_ms, rows_per_second, oldest_file_age_s, newest_file_age_s, retries)"
            " VALUES (%s, %s, %s, UTC_TIMESTAMP(6), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s)",
            (
                key.query_id,
                key.batch_id,
                run_id,
                counts.files,
                counts.rows_read,
                counts.rows_written,
                counts.rows_duplicate,
                counts.rows_rejected,
                stage_ms,
                commit_ms,
                total_ms,
                round(rate, 1),
                counts.oldest_file_age_s,
                counts.newest_file_age_s,
                retries,
            ),
        )
        # The staged rows are deleted after the commit (sink.StagingPurger): a replay skips a
        # recorded batch and clears its leftovers, so they need not go in this transaction.
        connection.commit()
    except BaseException:
        if connection.is_connected():
            connection.rollback()
        raise
    return counts, BatchTimings(stage_ms=stage_ms, commit_ms=commit_ms, retries=retries)


class BatchAlreadyCommitted(Exception):
    """The batch is in ingest_batches already: a replay, to be skipped."""

    def __init__(self, key: BatchKey) -> None:
        super().__init__(f"batch {key.batch_id} of query {key.query_id} is already committed")
        self.key = key
