"""The reads of one poll round: small, index-backed queries, the same SQL on MySQL and PostgreSQL.

No query scans `events`: the business figures come from `events_per_minute`, whose key starts
with `minute_start`. Sums over whole tables (totals, rejects by reason, the all-time funnel) are
Rollups: the rows before a boundary are summed now and then, the rows after it every round, so
a round reads index ranges only. A missing table makes its part None; any other error ends the
round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from spark_app.commands.dashboard import snapshot
from spark_app.commands.dashboard.snapshot import Fetched, Row
from spark_app.common.backlog import waiting_files
from spark_app.common.checkpoint import pending_batch
from spark_app.sink.drivers import database_errors, is_missing_table

BATCHES_SQL = (
    "SELECT committed_at, rows_read, rows_written, rows_rejected, rows_per_second,"
    " oldest_file_age_s, newest_file_age_s, stage_ms, commit_ms, total_ms, retries, files"
    " FROM ingest_batches ORDER BY committed_at DESC LIMIT %s"
)
LAST_MINUTE_SQL = (
    "SELECT COUNT(*), COALESCE(SUM(rows_read), 0) FROM ingest_batches WHERE committed_at >= %s"
)
# One character more than is shown, so the page can tell a cut line from a whole one.
LATEST_REJECTS_SQL = (
    "SELECT reason, detail, SUBSTR(source_file, 1, %s), source_line, SUBSTR(raw_line, 1, %s),"
    " rejected_at FROM events_rejected ORDER BY id DESC LIMIT %s"
)
RUNS_SQL = (
    f"SELECT {', '.join(snapshot.RUN_COLUMNS)} FROM pipeline_runs ORDER BY started_at DESC LIMIT %s"
)
# As batch_metrics.last_run: imported records say nothing about the running job.
LAST_RUN_SQL = (
    "SELECT run_id, state, recorded_at, started_at FROM pipeline_runs WHERE state <> 'imported'"
    " ORDER BY started_at DESC LIMIT 1"
)
MINUTES_SQL = (
    "SELECT minute_start, event_type, events, price_total FROM events_per_minute"
    " WHERE minute_start >= %s AND minute_start < %s ORDER BY minute_start"
)


def _rows(connection: Any, sql: str, params: tuple[Any, ...] = ()) -> list[Row] | None:
    """The rows of one query, or None when its table does not exist."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    except database_errors() as exc:
        if not is_missing_table(exc):
            raise
        # PostgreSQL refuses every later statement of an aborted transaction.
        connection.rollback()
        return None
    finally:
        cursor.close()


def _one(connection: Any, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
    rows = _rows(connection, sql, params)
    return None if rows is None else rows[0]


def _one_or_none(connection: Any, sql: str) -> Row | None:
    rows = _rows(connection, sql)
    return rows[0] if rows else None


Boundary = Callable[[Any, datetime], Any]


class Rollup:
    """COUNTs and SUMs over a table that grows at its end (by `column`, an indexed column).

    The rows before a boundary are read every `every_s` seconds and kept; the rows from the
    boundary on are read every round; the two are added up. The boundary lies far enough back
    that a row committed after the slow read lands after it (the stream's account may insert
    into these tables, never update or delete); the slow read repairs anything else.
    """

    def __init__(
        self,
        table: str,
        keys: Sequence[str],
        values: Sequence[str],
        column: str,
        boundary: Boundary,
        every_s: float,
    ) -> None:
        group_by = f" GROUP BY {', '.join(keys)}" if keys else ""
        self._sql = f"SELECT {', '.join([*keys, *values])} FROM {table} WHERE {column} {{}} %s"
        self._sql += group_by
        self._keys = len(keys)
        self._boundary = boundary
        self.every_s = every_s
        self._before: dict[tuple[Any, ...], list[Any]] | None = None
        self._from: Any = None
        self._read_at = 0.0

    def _sums(self, rows: Sequence[Row]) -> dict[tuple[Any, ...], list[Any]]:
        return {tuple(row[: self._keys]): list(row[self._keys :]) for row in rows}

    def read(self, connection: Any, now: datetime, moment: float) -> list[Row] | None:
        """The whole aggregate, one row per key (one row without keys); None: no table."""
        if self._before is None or moment - self._read_at >= self.every_s:
            self._before = None
            start = self._boundary(connection, now)
            rows = None if start is None else _rows(connection, self._sql.format("<"), (start,))
            if rows is None:
                return None
            self._before, self._from, self._read_at = self._sums(rows), start, moment
        recent = _rows(connection, self._sql.format(">="), (self._from,))
        if recent is None:
            self._before = None
            return None
        sums = {key: list(values) for key, values in self._before.items()}
        for key, values in self._sums(recent).items():
            known = sums.get(key)
            sums[key] = (
                values if known is None else [a + b for a, b in zip(known, values, strict=True)]
            )
        return [(*key, *values) for key, values in sums.items()]


def _before(delta: timedelta) -> Boundary:
    """A boundary `delta` before now."""
    return lambda connection, now: now - delta


def _reject_ids_back(rows: int) -> Boundary:
    """A boundary `rows` ids before the newest rejected row (ids grow with each insert)."""

    def boundary(connection: Any, now: datetime) -> Any:
        row = _one(connection, "SELECT COALESCE(MAX(id), 0) FROM events_rejected")
        return None if row is None else int(row[0]) - rows

    return boundary


def batch_totals() -> Rollup:
    """COUNT(*), SUM(files), SUM(rows_read), SUM(rows_written), SUM(rows_duplicate),
    SUM(rows_rejected), SUM(retries) over ingest_batches."""
    sums = ("files", "rows_read", "rows_written", "rows_duplicate", "rows_rejected", "retries")
    values = ["COUNT(*)", *(f"COALESCE(SUM({name}), 0)" for name in sums)]
    # committed_at is stamped in the commit's own transaction, moments before it commits.
    return Rollup("ingest_batches", (), values, "committed_at", _before(timedelta(minutes=10)), 60)


def batch_distributions() -> Rollup:
    """Histograms over ingest_batches: batch duration (total_ms) and freshness (the oldest
    file's age at commit), as cumulative bucket counts with their sums and counts.

    A rollup of its own: the slow part, a scan of the older batches with a CASE per bucket, is
    re-read every ten minutes rather than every minute (the stream only inserts batches).
    """
    duration = [
        f"COALESCE(SUM(CASE WHEN total_ms <= {round(bound * 1000)} THEN 1 ELSE 0 END), 0)"
        for bound in snapshot.DURATION_BUCKETS_S
    ]
    # A file dated in the future has a negative age: counted as 0, so the sum only grows.
    freshness = [
        f"COALESCE(SUM(CASE WHEN oldest_file_age_s <= {bound} THEN 1 ELSE 0 END), 0)"
        for bound in snapshot.FRESHNESS_BUCKETS_S
    ]
    values = [
        "COALESCE(SUM(total_ms), 0)",
        "COUNT(*)",
        *duration,
        "COALESCE(SUM(GREATEST(oldest_file_age_s, 0)), 0)",
        "COUNT(oldest_file_age_s)",
        *freshness,
    ]
    return Rollup("ingest_batches", (), values, "committed_at", _before(timedelta(minutes=10)), 600)


def reject_reasons() -> Rollup:
    """(reason, rows) of events_rejected."""
    return Rollup("events_rejected", ("reason",), ("COUNT(*)",), "id", _reject_ids_back(2_000), 60)


def type_totals() -> Rollup:
    """(event_type, events) over all of events_per_minute.

    Its rows are updated too: a late event adds to an old minute. Minutes more than two hours
    back are re-read every fifteen minutes (a year of minutes takes seconds to sum), so such a
    late event shows within that time.
    """
    return Rollup(
        "events_per_minute",
        ("event_type",),
        ("SUM(events)",),
        "minute_start",
        _before(timedelta(hours=2)),
        900,
    )


class Fetcher:
    """Runs the queries of a round; keeps the rollups' older parts between rounds."""

    def __init__(
        self,
        input_dir: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        checkpoint_dir: str | None = None,
    ) -> None:
        self.input_dir = input_dir
        self.checkpoint_dir = checkpoint_dir
        self._monotonic = monotonic
        self.totals = batch_totals()
        self.distributions = batch_distributions()
        self.reasons = reject_reasons()
        self.type_totals = type_totals()

    def fetch(self, connection: Any, now: datetime) -> Fetched:
        """Every part of the snapshot, read on `connection`; `now` is naive UTC."""
        batches = _rows(connection, BATCHES_SQL, (snapshot.SERIES_BATCHES,))
        minute_start = now.replace(second=0, microsecond=0)
        first_minute = minute_start - timedelta(minutes=snapshot.BUSINESS_MINUTES - 1)
        minutes = _rows(
            connection, MINUTES_SQL, (first_minute, minute_start + timedelta(minutes=1))
        )
        moment = self._monotonic()
        totals = self.totals.read(connection, now, moment)
        distributions = self.distributions.read(connection, now, moment)
        runs = _rows(connection, RUNS_SQL, (snapshot.RUNS,))
        fetched = Fetched(
            totals=None if totals is None else totals[0],
            distributions=distributions[0] if distributions else None,
            batches=batches,
            last_minute=_one(
                connection, LAST_MINUTE_SQL, (now - timedelta(seconds=snapshot.RATE_WINDOW_S),)
            ),
            reject_reasons=self.reasons.read(connection, now, moment),
            latest_rejects=_rows(
                connection,
                LATEST_REJECTS_SQL,
                (
                    snapshot.SOURCE_FILE_CHARS + 1,
                    snapshot.RAW_LINE_CHARS + 1,
                    snapshot.LATEST_REJECTS,
                ),
            ),
            runs=runs,
            last_run=None if runs is None else _one_or_none(connection, LAST_RUN_SQL),
            minutes=minutes,
            type_totals=None if minutes is None else self.type_totals.read(connection, now, moment),
            waiting=self._waiting(batches, now),
            # Two folder listings and one file's time: Spark's progress, not the database's.
            checkpoint_read=self.checkpoint_dir is not None,
            pending=None if self.checkpoint_dir is None else pending_batch(self.checkpoint_dir),
        )
        # End the read snapshot (autocommit is off): the next round sees new commits.
        connection.rollback()
        return fetched

    def _waiting(self, batches: Sequence[Row] | None, now: datetime) -> int | None:
        if self.input_dir is None:
            return None
        last = snapshot.last_batch(batches or [], now)
        return waiting_files(self.input_dir, None if last is None else last.newest_file_s_ago)
