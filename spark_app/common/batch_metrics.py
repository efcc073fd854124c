"""Read-only queries over `ingest_batches`, the per-batch metrics the sink commits with each batch.

Used by the run recorder, the status line, the report and the health check. Ages are computed
from `committed_at` (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class RunTotals:
    """Sums over the batches a run committed (ingest_batches WHERE run_id = the run)."""

    batches: int = 0
    files: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    retries: int = 0
    busy_ms: int = 0


@dataclass(frozen=True)
class LastBatch:
    """The most recently committed batch, seen from now."""

    committed_s_ago: float
    # How long ago the newest file of that batch was modified (None: the batch had no file).
    newest_file_s_ago: float | None


@dataclass(frozen=True)
class RecentRejects:
    """Rows read and rejected by the last few batches."""

    batches: int
    rows_read: int
    rows_rejected: int

    @property
    def share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


@dataclass(frozen=True)
class BatchRow:
    """One committed batch, as the report draws it."""

    run_id: str
    committed_at: datetime
    rows_read: int
    rows_rejected: int
    rows_per_second: float
    oldest_file_age_s: float | None
    newest_file_age_s: float | None


def _rows(handle: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    cursor = handle.cursor()
    cursor.execute(sql, params)
    rows = list(cursor.fetchall())
    handle.commit()  # ends the read snapshot: the next query sees new batches
    return rows


def run_totals(handle: Any, run_id: str) -> RunTotals:
    """Sums over the batches of one run."""
    (row,) = _rows(
        handle,
        "SELECT COUNT(*), COALESCE(SUM(files), 0), COALESCE(SUM(rows_read), 0),"
        " COALESCE(SUM(rows_written), 0), COALESCE(SUM(rows_duplicate), 0),"
        " COALESCE(SUM(rows_rejected), 0), COALESCE(SUM(retries), 0),"
        " COALESCE(SUM(total_ms), 0) FROM ingest_batches WHERE run_id = %s",
        (run_id,),
    )
    return RunTotals(*(int(value) for value in row))


def last_batch(handle: Any) -> LastBatch | None:
    """The latest commit over all queries; None when no batch was ever committed."""
    rows = _rows(
        handle,
        "SELECT committed_at, newest_file_age_s FROM ingest_batches"
        " ORDER BY committed_at DESC LIMIT 1",
        (),
    )
    if not rows:
        return None
    # committed_at holds UTC, stamped by the writer's clock; this host's clock reads it.
    ago = max(0.0, (datetime.now(UTC).replace(tzinfo=None) - rows[0][0]).total_seconds())
    newest = rows[0][1]
    return LastBatch(ago, None if newest is None else ago + float(newest))


def recent_rejects(handle: Any, window: int) -> RecentRejects:
    """Rows read and rejected by the last `window` batches."""
    (row,) = _rows(
        handle,
        "SELECT COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_rejected), 0) FROM"
        " (SELECT rows_read, rows_rejected FROM ingest_batches"
        " ORDER BY committed_at DESC LIMIT %s) AS recent",
        (window,),
    )
    return RecentRejects(int(row[0]), int(row[1]), int(row[2]))


def batches_of_last_runs(handle: Any, runs: int) -> list[BatchRow]:
    """Every batch of the `runs` most recent runs, oldest first."""
    rows = _rows(
        handle,
        "SELECT b.run_id, b.committed_at, b.rows_read, b.rows_rejected, b.rows_per_second,"
        " b.oldest_file_age_s, b.newest_file_age_s FROM ingest_batches AS b JOIN"
        " (SELECT run_id FROM ingest_batches GROUP BY run_id"
        "  ORDER BY MIN(committed_at) DESC LIMIT %s) AS r ON r.run_id = b.run_id"
        " ORDER BY b.committed_at, b.batch_id",
        (runs,),
    )
    return [
        BatchRow(
            run_id=str(run_id),
            committed_at=committed,
            rows_read=int(read),
            rows_rejected=int(rejected),
            rows_per_second=float(rate),
            oldest_file_age_s=None if oldest is None else float(oldest),
            newest_file_age_s=None if newest is None else float(newest),
        )
        for run_id, committed, read, rejected, rate, oldest, newest in rows
    ]


@dataclass(frozen=True)
class LastRun:
    """The latest run of the job, from its run record: its state and when it last wrote it."""

    run_id: str
    state: str
    recorded_s_ago: float


def last_run(handle: Any) -> LastRun | None:
    """The most recently started run in pipeline_runs (imported records aside)."""
    rows = _rows(
        handle,
        "SELECT run_id, state, recorded_at FROM pipeline_runs WHERE state <> 'imported'"
        " ORDER BY started_at DESC LIMIT 1",
        (),
    )
    if not rows:
        return None
    run_id, state, recorded = rows[0]
    ago = max(0.0, (datetime.now(UTC).replace(tzinfo=None) - recorded).total_seconds())
    return LastRun(str(run_id), str(state), ago)
