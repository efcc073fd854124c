"""A micro-batch made ready to commit: pure Arrow work on the driver, no database, no Spark.

Rows are put in arrival order (file modification time, then file name, then line), which
decides the "first" row of an event_id and the "latest" row of a user or product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from spark_app.common.markers import FILE_MARKER

EVENT_COLUMNS = ("event_id", "user_id", "product_id", "event_type", "price", "event_time")
USER_COLUMNS = ("user_id", "name", "email", "city", "registered_at")
PRODUCT_COLUMNS = ("product_id", "name", "category", "list_price")
LINEAGE_COLUMNS = ("source_file", "source_line")
ARRIVAL_COLUMNS = ("file_modified", "source_file", "source_line")
# A large batch's events come merged in this order (job/idorder.py).
ID_ORDER_COLUMNS = ("event_id", *ARRIVAL_COLUMNS)
REJECTED_COLUMNS = ("reason", "detail", "source_file", "source_line", "raw_line")
SINK_REFUSED = "sink_refused"


@dataclass(frozen=True)
class BatchKey:
    """A micro-batch, across restarts: the checkpoint's query id and Spark's batch id."""

    query_id: str
    batch_id: int


@dataclass(frozen=True)
class FileEntry:
    """A file the batch read: its path, modification time (naive UTC) and data records."""

    path: str
    modified: datetime
    records: int


@dataclass(frozen=True)
class PreparedChunk:
    """What one chunk of a batch writes, each part in the order it is written."""

    # Records read per file: (path, modification time) -> records, from the pieces' markers.
    records_per_file: dict[tuple[str, datetime], int]
    rows_read: int
    # The first row of each event_id in arrival order, sorted by event_id (InnoDB and B-tree
    # pages fill in sequence); rows repeating an earlier event_id of the chunk are counted.
    events: pa.Table
    in_chunk_duplicates: int
    # The latest row of each user_id / product_id in arrival order.
    users: pa.Table
    products: pa.Table
    user_rows: int
    product_rows: int
    rejected: pa.Table


def _in_arrival_order(table: pa.Table) -> pa.Table:
    """The rows in arrival order; as they come (a wave's chunks are) when they are in it
    already, which is cheaper to check than to sort and copy every column."""
    if _is_ordered(table, ARRIVAL_COLUMNS):
        return table
    order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in ARRIVAL_COLUMNS])
    return table.take(order)


def _is_ordered(table: pa.Table, keys: tuple[str, ...]) -> bool:
    """Whether no row comes after the next one by `keys` (the first key first)."""
    if table.num_rows < 2:
        return True
    columns = [table.column(name) for name in keys]
    before = [key.slice(0, table.num_rows - 1) for key in columns]
    after = [key.slice(1) for key in columns]
    # Row i comes no later than row i+1, comparing the keys from the last one up.
    in_order = pc.less_equal(before[-1], after[-1])
    for earlier, later in zip(reversed(before[:-1]), reversed(after[:-1]), strict=True):
        in_order = pc.or_(pc.less(earlier, later), pc.and_(pc.equal(earlier, later), in_order))
    return bool(pc.all(in_order, skip_nulls=False).as_py())


def _first_per_id(events: pa.Table, *, by_id: bool = False) -> pa.Table:
    """The first row of each event_id (rows in arrival order; `by_id`: in event_id order with
    equal ids in arrival order already), sorted by event_id: a stable sort keeps a repeated
    id's rows in arrival order, so the first is the one whose id differs from the row before."""
    ordered = events if by_id else _sorted_by(events, "event_id")
    if ordered.num_rows < 2:
        return ordered
    ids = ordered.column("event_id")
    first = pc.not_equal(ids.slice(1), ids.slice(0, ordered.num_rows - 1))
    if pc.all(first).as_py():
        return ordered
    return ordered.filter(pa.concat_arrays([pa.array([True]), *first.chunks]))


def _latest_per_key(rows: pa.Table, key: str) -> pa.Table:
    """The latest row of each key; rows are in arrival order."""
    if rows.num_rows == 0:
        return rows
    numbered = rows.append_column("_position", pa.array(range(rows.num_rows), pa.int64()))
    chosen = numbered.group_by(key, use_threads=False).aggregate([("_position", "max")])
    positions = pc.sort_indices(chosen.column("_position_max"))
    picked = pc.take(chosen.column("_position_max"), positions)
    return rows.take(picked)


def _sorted_by(table: pa.Table, key: str) -> pa.Table:
    return table.take(pc.sort_indices(table, sort_keys=[(key, "ascending")]))


def distinct(table: pa.Table, column: str) -> list[str]:
    """The column's distinct non-null values, sorted."""
    values = pc.unique(table.column(column)).to_pylist()
    return sorted(str(value) for value in values if value is not None)


def prepare(table: pa.Table) -> PreparedChunk:
    """Validated rows of one chunk (any order) -> the parts its writes need.

    Chunks reach the transaction in arrival order (or, a large batch's events, in event_id
    order with equal ids in arrival order), so the first row of an event_id in the first chunk
    that holds it is the batch's first: later chunks find it in the table.
    """
    # Markers (a piece's record count, line 0) are counted, not ordered.
    is_marker = pc.equal(table.column("kind"), FILE_MARKER)
    markers = table.filter(is_marker)
    records = table.filter(pc.invert(is_marker))
    by_id = _is_ordered(records, ID_ORDER_COLUMNS)
    if not by_id:
        records = _in_arrival_order(records)
    valid = pc.is_null(records.column("reason"))
    accepted = records.filter(valid)

    def of_kind(name: str, columns: tuple[str, ...]) -> pa.Table:
        return accepted.filter(pc.equal(accepted.column("kind"), name)).select(list(columns))

    events = of_kind("events", EVENT_COLUMNS + LINEAGE_COLUMNS)
    first_events = _first_per_id(events, by_id=by_id)
    users = of_kind("users", USER_COLUMNS + ARRIVAL_COLUMNS)
    products = of_kind("products", PRODUCT_COLUMNS + ARRIVAL_COLUMNS)
    per_file: dict[tuple[str, datetime], int] = {}
    for path, modified, count in zip(
        markers.column("source_file").to_pylist(),
        markers.column("file_modified").to_pylist(),
        markers.column("detail").to_pylist(),
        strict=True,
    ):
        name = (str(path), _utc(modified))
        per_file[name] = per_file.get(name, 0) + int(count or 0)
    return PreparedChunk(
        records_per_file=per_file,
        rows_read=records.num_rows,
        events=first_events,
        in_chunk_duplicates=events.num_rows - first_events.num_rows,
        users=_sorted_by(_latest_per_key(users, "user_id"), "user_id"),
        products=_sorted_by(_latest_per_key(products, "product_id"), "product_id"),
        user_rows=users.num_rows,
        product_rows=products.num_rows,
        rejected=records.filter(pc.invert(valid)).select(list(REJECTED_COLUMNS)),
    )


def refused(rows: pa.Table, columns: tuple[str, ...], message: str) -> pa.Table:
    """Rows the database refused, as quarantine rows (`sink_refused`, its message, the values)."""
    values = [pc.cast(rows.column(name), pa.string()).fill_null("") for name in columns]
    raw = pc.binary_join_element_wise(*values, ",") if len(values) > 1 else values[0]
    count = rows.num_rows
    return pa.table(
        {
            "reason": pa.array([SINK_REFUSED] * count, pa.string()),
            "detail": pa.array([message[:255]] * count, pa.string()),
            "source_file": rows.column("source_file"),
            "source_line": rows.column("source_line"),
            "raw_line": raw,
        }
    )


def _utc(value: datetime) -> datetime:
    """A naive UTC datetime (what DATETIME and timestamp columns hold here)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def without(events: pa.Table, event_ids: set[str]) -> pa.Table:
    """The events whose id is not among `event_ids`."""
    if not event_ids:
        return events
    keep = pc.invert(pc.is_in(events.column("event_id"), pa.array(sorted(event_ids))))
    return events.filter(keep)


@dataclass(frozen=True)
class MinuteTotal:
    """One row of events_per_minute: a UTC minute and an event type, with count and price sum."""

    minute_start: datetime
    event_type: str
    events: int
    price_total: Decimal


def minute_totals(events: pa.Table) -> list[MinuteTotal]:
    """Count and price total of `events` per UTC minute of event_time and event type."""
    if events.num_rows == 0:
        return []
    minutes = pc.floor_temporal(events.column("event_time"), unit="minute")
    table = pa.table(
        {
            "minute_start": minutes,
            "event_type": events.column("event_type"),
            "price": events.column("price"),
        }
    )
    grouped = table.group_by(["minute_start", "event_type"], use_threads=False).aggregate(
        [("price", "count"), ("price", "sum")]
    )
    return sorted(
        (
            MinuteTotal(_utc(minute), str(kind), int(count), Decimal(total))
            for minute, kind, count, total in zip(
                grouped.column("minute_start").to_pylist(),
                grouped.column("event_type").to_pylist(),
                grouped.column("price_count").to_pylist(),
                grouped.column("price_sum").to_pylist(),
                strict=True,
            )
        ),
        key=lambda total: (total.minute_start, total.event_type),
    )


def utc_now() -> datetime:
    """The current time as a naive UTC datetime, microseconds kept."""
    return datetime.now(UTC).replace(tzinfo=None)
