"""What `ingest-batches` reads from and writes to the sink, in portable SQL.

Reads: refused rows per batch (events_rejected, through its reason index), the batch record
of a key, the latest run record. The one write settles a pending batch: its files and a batch
record with no rows, in one transaction claimed by the record's primary key, exactly as the
stream records a batch (so the stream's replay guard skips it). Every statement is one the
writer's account may run (docs/PRIVILEGES.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spark_app.commands.refused import RefusedRow
from spark_app.sink.batch import SINK_REFUSED, BatchKey, FileEntry
from spark_app.sink.dialect import Dialect
from spark_app.sink.rows import BatchRecord

# ingest_batches.write_path (VARCHAR(16) on both sinks) of a batch set aside, nothing written.
DEAD_LETTER_PATH = "dead_letter"
# Refused rows read per round trip: memory stays flat however many a batch has.
PAGE_ROWS = 1_000
# The file-age columns hold DECIMAL(16,3) seconds (as the stream clamps them).
MAX_AGE_SECONDS = 9_999_999_999_999.0


@dataclass(frozen=True)
class RefusedBatch:
    """A committed batch with rows the database refused: how many, the first message, when."""

    key: BatchKey
    rows: int
    first_detail: str
    first_at: datetime


@dataclass(frozen=True)
class RunInfo:
    """The latest run record (imports aside)."""

    run_id: str
    state: str
    recorded_at: datetime
    errors: int
    recorded_s_ago: float


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _fetch(connection: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    cursor = connection.cursor()
    cursor.execute(sql, params)
    rows = list(cursor.fetchall())
    connection.rollback()  # end the read: the write transaction starts afresh
    return rows


def refused_batches(connection: Any) -> list[RefusedBatch]:
    """Every batch with `sink_refused` rows, oldest first."""
    rows = _fetch(
        connection,
        "SELECT r.query_id, r.batch_id, g.refused, r.detail, r.rejected_at"
        " FROM events_rejected AS r JOIN"
        " (SELECT MIN(id) AS first_id, COUNT(*) AS refused FROM events_rejected"
        "  WHERE reason = %s GROUP BY query_id, batch_id) AS g ON r.id = g.first_id"
        " ORDER BY r.id",
        (SINK_REFUSED,),
    )
    return [
        RefusedBatch(BatchKey(str(query), int(batch)), int(count), str(detail or ""), at)
        for query, batch, count, detail, at in rows
    ]


def refused_rows(connection: Any, key: BatchKey) -> Iterator[RefusedRow]:
    """The batch's `sink_refused` rows in the order they were stored, a page at a time."""
    after = 0
    while True:
        rows = _fetch(
            connection,
            "SELECT id, source_file, source_line, detail, raw_line, rejected_at"
            " FROM events_rejected WHERE reason = %s AND id > %s AND query_id = %s"
            " AND batch_id = %s ORDER BY id LIMIT %s",
            (SINK_REFUSED, after, key.query_id, key.batch_id, PAGE_ROWS),
        )
        for ident, path, line, detail, raw, at in rows:
            yield RefusedRow(int(ident), str(path), int(line), str(detail or ""), str(raw), at)
        if len(rows) < PAGE_ROWS:
            return
        after = int(rows[-1][0])


def recorded(connection: Any, key: BatchKey) -> tuple[datetime, str] | None:
    """(committed_at, write_path) of the batch's record, None when it is not recorded."""
    rows = _fetch(
        connection,
        "SELECT committed_at, write_path FROM ingest_batches WHERE query_id = %s AND batch_id = %s",
        (key.query_id, key.batch_id),
    )
    return None if not rows else (rows[0][0], str(rows[0][1]))


def latest_run(connection: Any) -> RunInfo | None:
    """The most recently started run of the stream, from pipeline_runs."""
    rows = _fetch(
        connection,
        "SELECT run_id, state, recorded_at, errors FROM pipeline_runs WHERE state <> 'imported'"
        " ORDER BY started_at DESC LIMIT 1",
        (),
    )
    if not rows:
        return None
    run_id, state, at, errors = rows[0]
    ago = max(0.0, (_utcnow() - at).total_seconds())
    return RunInfo(str(run_id), str(state), at, int(errors), ago)


def _age(now: datetime, modified: datetime) -> float:
    return max(-MAX_AGE_SECONDS, min(MAX_AGE_SECONDS, (now - modified).total_seconds()))


def record_set_aside(
    dialect: Dialect, connection: Any, key: BatchKey, files: list[FileEntry], run_id: str
) -> bool:
    """Record the batch as settled with nothing written: its files (0 records each) and a
    batch record with 0 rows and write_path `dead_letter`, in one transaction; False when the
    batch is recorded already (found, or claimed first by another writer)."""
    dialect.begin(connection)
    try:
        if dialect.is_recorded(connection, key):
            connection.rollback()
            return False
        now = _utcnow()
        dialect.record_files(connection, key, files, now)
        # The files' ages as at a commit: the health check counts waiting files from them.
        ages = [_age(now, entry.modified) for entry in files]
        record = BatchRecord(
            key=key,
            run_id=run_id,
            committed_at=now,
            files=len(files),
            rows_read=0,
            rows_written=0,
            rows_duplicate=0,
            rows_rejected=0,
            stage_ms=0,
            commit_ms=0,
            total_ms=0,
            oldest_file_age_s=max(ages) if ages else None,
            newest_file_age_s=min(ages) if ages else None,
            retries=0,
            users_upserted=0,
            products_upserted=0,
            write_path=DEAD_LETTER_PATH,
        )
        if not dialect.record_batch(connection, record):
            connection.rollback()
            return False
        connection.commit()
    except BaseException:
        try:
            connection.rollback()
        except Exception:
            pass  # a connection that is gone has rolled back on the server
        raise
    return True
