"""The rows the sink writes, as Python values: a batch's ingest_batches row, and Arrow tables
and per-minute totals as the parameters of multi-row statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from spark_app.sink.batch import BatchKey, MinuteTotal

# Rows per multi-row statement: large enough to amortise round trips, small enough for any
# server's max_allowed_packet.
CHUNK_ROWS = 2_000

# events_rejected's columns as written: the line's, then the batch's.
REJECTED_INSERT_COLUMNS = (
    "reason", "detail", "source_file", "source_line", "raw_line", "query_id", "batch_id",
    "rejected_at",
)  # fmt: skip


@dataclass(frozen=True)
class BatchRecord:
    """The ingest_batches row of a batch: rows_read = written + duplicate + rejected."""

    key: BatchKey
    run_id: str
    committed_at: datetime
    files: int
    rows_read: int
    rows_written: int
    rows_duplicate: int
    rows_rejected: int
    stage_ms: int
    commit_ms: int
    total_ms: int
    oldest_file_age_s: float | None
    newest_file_age_s: float | None
    retries: int
    users_upserted: int
    products_upserted: int
    write_path: str

    @property
    def rows_per_second(self) -> float:
        return round(self.rows_read / max(self.total_ms / 1000, 0.001), 1)


def rows_of(table: pa.Table, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The table's rows as tuples of the named columns."""
    return list(zip(*(table.column(name).to_pylist() for name in columns), strict=True))


def chunked(rows: list[tuple[Any, ...]], size: int = CHUNK_ROWS) -> list[list[tuple[Any, ...]]]:
    """`rows` in runs of at most `size`, one per statement."""
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def rejected_rows(rejected: pa.Table) -> pa.Table:
    """Quarantined lines as events_rejected holds them (a missing raw line is empty)."""
    raw = rejected.column("raw_line").fill_null("")
    return rejected.set_column(rejected.schema.get_field_index("raw_line"), "raw_line", raw)


def minute_values(totals: list[MinuteTotal]) -> list[Any]:
    """The parameters of a multi-row INSERT into events_per_minute, row after row."""
    return [
        value
        for total in totals
        for value in (total.minute_start, total.event_type, total.events, total.price_total)
    ]
