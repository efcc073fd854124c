"""The exactly-once batch protocol, written once against a Dialect.

A micro-batch may run more than once (foreachBatch is at-least-once: a crash between the
database commit and Spark's checkpoint commit replays it). Everything a batch writes goes in
one transaction together with its row in ingest_batches, and a batch already recorded there is
skipped: a replay changes nothing, a crash before the commit leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from spark_app.sink.batch import (
    PRODUCT_COLUMNS,
    USER_COLUMNS,
    BatchKey,
    PreparedBatch,
    distinct,
    minute_totals,
    utc_now,
    without,
)
from spark_app.sink.dialect import BatchRecord, Dialect


class AccountingError(RuntimeError):
    """The counts of a batch do not add up; the transaction is rolled back."""


def _write_events(
    dialect: Dialect, connection: Any, key: BatchKey, batch: PreparedBatch
) -> pa.Table:
    """Load the events; add exactly the rows written to the per-minute totals; return them."""
    now = utc_now()
    inserted = dialect.load_events(connection, key, batch.events, now)
    written = batch.events
    if inserted < batch.events.num_rows:
        ids = [str(value) for value in batch.events.column("event_id").to_pylist()]
        written = without(batch.events, dialect.ids_written_before(connection, key, ids))
        if written.num_rows != inserted:
            raise AccountingError(
                f"batch {key.batch_id}: {inserted} events inserted but"
                f" {written.num_rows} ids are new"
            )
    dialect.add_minute_totals(connection, minute_totals(written))
    return written


def _write_entities(
    dialect: Dialect, connection: Any, batch: PreparedBatch, events: pa.Table
) -> None:
    """Real users and products first (latest arrival wins), then placeholders for those that
    the written events name and that have not arrived."""
    now = utc_now()
    dialect.upsert_entities(connection, "users", "user_id", USER_COLUMNS[1:], batch.users, now)
    dialect.upsert_entities(
        connection, "products", "product_id", PRODUCT_COLUMNS[1:], batch.products, now
    )
    dialect.insert_missing(connection, "users", "user_id", distinct(events, "user_id"), now)
    dialect.insert_missing(
        connection, "products", "product_id", distinct(events, "product_id"), now
    )


def commit_batch(
    dialect: Dialect,
    connection: Any,
    key: BatchKey,
    batch: PreparedBatch,
    *,
    run_id: str,
    stage_ms: int,
    retries: int,
    started: float,
    clock: Callable[[], float],
    rows_written: Callable[[], None] = lambda: None,
) -> BatchRecord | None:
    """Write one prepared batch and its record in one transaction; None when already recorded.

    `rows_written` is called inside the transaction once every row is written (a test hook).
    """
    commit_started = clock()
    dialect.begin(connection)
    try:
        if not dialect.lock_batch(connection, key):
            connection.rollback()
            return None
        written_events = _write_events(dialect, connection, key, batch)
        inserted = written_events.num_rows
        _write_entities(dialect, connection, batch, written_events)
        now = utc_now()
        rejected = dialect.insert_rejected(connection, key, batch.rejected, now)
        dialect.record_files(connection, key, batch.files, now)
        rows_written()
        duplicates = batch.in_batch_duplicates + batch.events.num_rows - inserted
        written = inserted + batch.user_rows + batch.product_rows
        if batch.rows_read != written + duplicates + rejected:
            raise AccountingError(
                f"batch {key.batch_id}: read {batch.rows_read} != written {written}"
                f" + duplicate {duplicates} + rejected {rejected}"
            )
        ages = [(now - entry.modified).total_seconds() for entry in batch.files]
        commit_ms = int((clock() - commit_started) * 1000)
        record = BatchRecord(
            key=key,
            run_id=run_id,
            committed_at=now,
            files=len(batch.files),
            rows_read=batch.rows_read,
            rows_written=written,
            rows_duplicate=duplicates,
            rows_rejected=rejected,
            stage_ms=stage_ms,
            commit_ms=commit_ms,
            total_ms=int((clock() - started) * 1000),
            oldest_file_age_s=max(ages) if ages else None,
            newest_file_age_s=min(ages) if ages else None,
            retries=retries,
            users_upserted=batch.user_rows,
            products_upserted=batch.product_rows,
            write_path=dialect.write_path(),
        )
        dialect.record_batch(connection, record)
        connection.commit()
    except BaseException:
        _rollback_quietly(connection)
        raise
    return record


def _rollback_quietly(connection: Any) -> None:
    """Roll back; a connection that is gone has rolled back on the server already."""
    try:
        connection.rollback()
    except Exception:
        pass
