"""The exactly-once batch protocol, written once against a Dialect.

A micro-batch may run more than once (foreachBatch is at-least-once: a crash between the
database commit and Spark's checkpoint commit replays it). Everything a batch writes goes in
one transaction together with its row in ingest_batches, and a batch already recorded there is
skipped: a replay changes nothing, a crash before the commit leaves nothing behind.

The batch arrives as a stream of chunks in arrival order and is written chunk by chunk, so no
part of the process holds the whole batch. Each chunk's writes run under a savepoint: when the
database refuses some rows (a CHECK constraint, a trigger), the chunk is narrowed down by halves
to the rows it refuses, which are quarantined as `sink_refused` with the database's message, and
the rest is committed. A refusal that no row explains (a permission, a missing table) is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from spark_app.common.failpoints import failpoint
from spark_app.sink.batch import (
    EVENT_COLUMNS,
    PRODUCT_COLUMNS,
    USER_COLUMNS,
    BatchKey,
    FileEntry,
    PreparedChunk,
    distinct,
    minute_totals,
    prepare,
    refused,
    utc_now,
)
from spark_app.sink.dialect import Dialect
from spark_app.sink.rows import BatchRecord


class AccountingError(RuntimeError):
    """The counts of a batch do not add up; the transaction is rolled back."""


@dataclass
class Tally:
    """What the chunks of one batch added up to."""

    rows_read: int = 0
    events_written: int = 0
    duplicates: int = 0
    rejected: int = 0
    users: int = 0
    products: int = 0
    records_per_file: dict[tuple[str, datetime], int] = field(default_factory=dict)


def _narrowed(
    dialect: Dialect,
    connection: Any,
    rows: pa.Table,
    write: Callable[[pa.Table], pa.Table],
) -> tuple[pa.Table, list[tuple[pa.Table, str]]]:
    """`write(rows)` under a savepoint -> (what it wrote, [(refused rows, message)]).

    A refusal that rows explain rolls the savepoint back and writes each half on its own,
    down to the single rows refused.
    """
    dialect.savepoint(connection)
    try:
        written = write(rows)
    except Exception as exc:
        if not dialect.is_row_refusal(exc):
            raise
        dialect.rollback_to_savepoint(connection)
        if rows.num_rows == 1:
            return rows.slice(0, 0), [(rows, dialect.refusal_message(exc))]
        half = rows.num_rows // 2
        first, first_refused = _narrowed(dialect, connection, rows.slice(0, half), write)
        second, second_refused = _narrowed(dialect, connection, rows.slice(half), write)
        return pa.concat_tables([first, second]), first_refused + second_refused
    dialect.release_savepoint(connection)
    return written, []


def _write_chunk(
    dialect: Dialect, connection: Any, key: BatchKey, chunk: PreparedChunk, tally: Tally
) -> None:
    now = utc_now()
    quarantined = [chunk.rejected]

    def write_events(rows: pa.Table) -> pa.Table:
        written = dialect.load_events(connection, key, rows, now)
        dialect.add_minute_totals(connection, minute_totals(written))
        dialect.insert_missing(connection, "users", "user_id", distinct(written, "user_id"), now)
        dialect.insert_missing(
            connection, "products", "product_id", distinct(written, "product_id"), now
        )
        return written

    def upsert(
        table: str, key_column: str, columns: tuple[str, ...]
    ) -> Callable[[pa.Table], pa.Table]:
        def write(rows: pa.Table) -> pa.Table:
            dialect.upsert_entities(connection, table, key_column, columns[1:], rows, now)
            return rows

        return write

    # Real users and products first (latest arrival wins), so that the events' placeholders
    # are only added for those that have not arrived.
    entities = (
        ("users", "user_id", USER_COLUMNS, chunk.users, chunk.user_rows),
        ("products", "product_id", PRODUCT_COLUMNS, chunk.products, chunk.product_rows),
    )
    for table, key_column, columns, rows, arrived in entities:
        refusals: list[tuple[pa.Table, str]] = []
        if rows.num_rows:
            _, refusals = _narrowed(dialect, connection, rows, upsert(table, key_column, columns))
        refused_rows = sum(part.num_rows for part, _ in refusals)
        quarantined += [refused(part, columns, message) for part, message in refusals]
        # Rows of a key that lost to a later row of the same chunk count as upserted too.
        if table == "users":
            tally.users += arrived - refused_rows
        else:
            tally.products += arrived - refused_rows
    written, refusals = (
        _narrowed(dialect, connection, chunk.events, write_events)
        if chunk.events.num_rows
        else (chunk.events, [])
    )
    refused_events = sum(part.num_rows for part, _ in refusals)
    quarantined += [refused(part, EVENT_COLUMNS, message) for part, message in refusals]
    tally.events_written += written.num_rows
    tally.duplicates += (
        chunk.in_chunk_duplicates + chunk.events.num_rows - written.num_rows - refused_events
    )
    rejected = pa.concat_tables(
        [
            part.select(chunk.rejected.column_names).cast(chunk.rejected.schema)
            for part in quarantined
        ]
    )
    tally.rejected += dialect.insert_rejected(connection, key, rejected, now)
    tally.rows_read += chunk.rows_read
    for name, count in chunk.records_per_file.items():
        tally.records_per_file[name] = tally.records_per_file.get(name, 0) + count
    failpoint("chunk-written")


def _files_read(files: list[FileEntry], tally: Tally) -> list[FileEntry]:
    """Every file of the batch with its records: those the pieces counted, and the listed ones
    that gave no piece (0 bytes)."""
    entries = [
        FileEntry(path, modified, count)
        for (path, modified), count in tally.records_per_file.items()
    ]
    seen = {entry.path for entry in entries}
    entries += [entry for entry in files if entry.path not in seen]
    return sorted(entries, key=lambda entry: (entry.modified, entry.path))


def check_accounting(key: BatchKey, tally: Tally, files: list[FileEntry]) -> int:
    """Raise AccountingError unless read = written + duplicate + rejected, and the pieces'
    record counts add up to the rows read; returns the rows written."""
    written = tally.events_written + tally.users + tally.products
    if tally.rows_read != written + tally.duplicates + tally.rejected:
        raise AccountingError(
            f"batch {key.batch_id}: read {tally.rows_read} != written {written}"
            f" + duplicate {tally.duplicates} + rejected {tally.rejected}"
        )
    counted = sum(entry.records for entry in files)
    if counted != tally.rows_read:
        raise AccountingError(
            f"batch {key.batch_id}: the files' pieces counted {counted} records,"
            f" the chunks held {tally.rows_read}"
        )
    return written


# The file-age columns hold DECIMAL(16,3) seconds: a file dated far in the past or future is
# recorded with its age clamped to what the column holds.
MAX_AGE_SECONDS = 9_999_999_999_999.0


def _age(now: datetime, modified: datetime) -> float:
    seconds = (now - modified).total_seconds()
    return max(-MAX_AGE_SECONDS, min(MAX_AGE_SECONDS, seconds))


def commit_batch(
    dialect: Dialect,
    connection: Any,
    key: BatchKey,
    chunks: Iterable[pa.Table],
    files: list[FileEntry],
    *,
    run_id: str,
    retries: int,
    started: float,
    clock: Callable[[], float],
) -> BatchRecord | None:
    """Write the batch's chunks and its record in one transaction; None when already recorded.

    `files` are the files the source put in the batch; `chunks` the validated rows of their
    pieces, in arrival order.
    """
    dialect.begin(connection)
    try:
        if dialect.is_recorded(connection, key):
            connection.rollback()
            return None
        tally = Tally()
        first_chunk_at: float | None = None
        with closing_iterator(chunks) as tables, ThreadPoolExecutor(1) as writer:
            # The database writes a chunk in this thread while the caller's thread reads and
            # prepares the next one (pure Arrow, which releases the GIL): the chunks' source
            # runs where the caller runs it, the connection is used by one thread at a time.
            writing: Future[None] | None = None
            for table in tables:
                if first_chunk_at is None:
                    first_chunk_at = clock()
                chunk = prepare(table)
                if writing is not None:
                    writing.result()
                writing = writer.submit(_write_chunk, dialect, connection, key, chunk, tally)
            if writing is not None:
                writing.result()
        read_ms = int(((first_chunk_at or clock()) - started) * 1000)
        now = utc_now()
        entries = _files_read(files, tally)
        dialect.record_files(connection, key, entries, now)
        failpoint("rows-written")
        written = check_accounting(key, tally, entries)
        ages = [_age(now, entry.modified) for entry in entries]
        total_ms = int((clock() - started) * 1000)
        record = BatchRecord(
            key=key,
            run_id=run_id,
            committed_at=now,
            files=len(entries),
            rows_read=tally.rows_read,
            rows_written=written,
            rows_duplicate=tally.duplicates,
            rows_rejected=tally.rejected,
            stage_ms=read_ms,
            commit_ms=max(total_ms - read_ms, 0),
            total_ms=total_ms,
            oldest_file_age_s=max(ages) if ages else None,
            newest_file_age_s=min(ages) if ages else None,
            retries=retries,
            users_upserted=tally.users,
            products_upserted=tally.products,
            write_path=dialect.write_path(),
        )
        if not dialect.record_batch(connection, record):
            connection.rollback()  # another writer recorded this batch first
            return None
        connection.commit()
    except BaseException:
        _rollback_quietly(connection)
        raise
    return record


@contextmanager
def closing_iterator(items: Iterable[pa.Table]) -> Iterator[Iterator[pa.Table]]:
    """Iterate `items`; close the iterator however the loop ends, so that a stream of chunks
    left half-read (a failed attempt) stops its producer at once."""
    iterator = iter(items)
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _rollback_quietly(connection: Any) -> None:
    """Roll back; a connection that is gone has rolled back on the server already."""
    try:
        connection.rollback()
    except Exception:
        pass
