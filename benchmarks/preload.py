"""Fill events with N synthetic rows quickly: the database's bulk path, keys in order.

Rows look like the pipeline's (random UUID keys, ids, prices, times, lineage filled in) so the
table and its key index have the size a real history would give them. Keys are random UUIDs
generated bucket by bucket over their first hex digit and sorted within the bucket: the load
appends to the key index instead of splitting pages all over it, as a real history built over
months would have left it packed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from benchmarks.databases import Schema
from spark_app.sink.drivers import connect

COLUMNS = (
    "event_id", "user_id", "product_id", "event_type", "price", "event_time", "source_file",
    "source_line", "query_id", "batch_id", "ingested_at",
)  # fmt: skip
EVENT_TYPES = ("view", "view", "view", "add_to_cart", "purchase")
BUCKETS = 16
# The history's lineage: one made-up query, a file of 10,000 rows per batch.
QUERY_ID = "00000000-0000-4000-8000-000000000000"
ROWS_PER_FILE = 10_000


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Where the 32 hex digits go in the 36 characters of a UUID's text.
_DIGIT_AT = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
_EPOCH_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)


def _sorted_keys(rng: np.random.Generator, bucket: int, count: int) -> pa.Array:
    """`count` random version-4 UUIDs whose first hex digit is `bucket`, sorted."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 0] = (raw[:, 0] & 0x0F) | (bucket << 4)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_AT[0::2]] = _HEX[raw >> 4]
    text[:, _DIGIT_AT[1::2]] = _HEX[raw & 0x0F]
    keys = np.sort(text.view("S36").ravel())
    offsets = np.arange(0, 36 * (count + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(keys.tobytes()))


def _prefixed(prefix: str, numbers: np.ndarray[Any, Any], suffix: str = "") -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), suffix, "")


def _bucket_rows(rng: np.random.Generator, bucket: int, count: int, first: int) -> bytes:
    """`count` tab-separated rows whose keys start with hex digit `bucket`, in key order."""
    number = np.arange(first, first + count, dtype=np.int64)
    batch, line = np.divmod(number, ROWS_PER_FILE)
    when = pa.array(_EPOCH_US + number * 37_000, type=pa.timestamp("us"))
    table = pa.table(
        {
            "event_id": _sorted_keys(rng, bucket, count),
            "user_id": _prefixed("U", rng.integers(100_000, 1_000_000, count)),
            "product_id": _prefixed("P", rng.integers(10_000, 100_000, count)),
            "event_type": pa.array(EVENT_TYPES).take(pa.array(number % len(EVENT_TYPES))),
            "price": pa.array(rng.integers(100, 50_000, count) / 100),
            "event_time": when,
            "source_file": _prefixed("file:/history/events_", batch, ".csv"),
            "source_line": pa.array(line + 2),
            "query_id": pa.array([QUERY_ID] * count),
            "batch_id": pa.array(batch),
            "ingested_at": when,
        }
    )
    out = io.BytesIO()
    csv.write_csv(
        table, out, csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    )
    return out.getvalue()


def _chunks(rows: int, seed: int) -> Iterator[bytes]:
    rng = np.random.default_rng(seed)
    first = 0
    for bucket in range(BUCKETS):
        count = rows // BUCKETS + (1 if bucket < rows % BUCKETS else 0)
        if count:
            yield _bucket_rows(rng, bucket, count, first)
            first += count


def preload_events(schema: Schema, rows: int, folder: Path, seed: int = 7) -> float:
    """Load `rows` synthetic events as the schema's owner, a transaction per bucket; then
    refresh the planner's statistics. Returns the seconds it took."""
    started = time.monotonic()
    names = ", ".join(COLUMNS)
    if schema.kind == "mysql":
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "preload.tsv"
        with connect(
            schema.settings(), allow_local_infile=True, allow_local_infile_in_path=str(folder)
        ) as connection:
            cursor = connection.cursor()
            for text in _chunks(rows, seed):
                path.write_bytes(text)
                cursor.execute(
                    "LOAD DATA LOCAL INFILE %s INTO TABLE events CHARACTER SET utf8mb4"
                    f" FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({names})",
                    (str(path),),
                )
                connection.commit()
            cursor.execute("ANALYZE TABLE events")
            cursor.fetchall()
            connection.commit()
        path.unlink(missing_ok=True)
    else:
        with connect(schema.settings()) as connection:
            cursor = connection.cursor()
            for text in _chunks(rows, seed):
                with cursor.copy(f"COPY events ({names}) FROM STDIN") as copy:
                    copy.write(text)
                connection.commit()
        with connect(schema.settings(), autocommit=True) as connection:
            connection.cursor().execute("VACUUM (ANALYZE) events")
    return time.monotonic() - started


def table_mb(schema: Schema) -> float:
    """The size of events with its indexes, MB."""
    if schema.kind == "mysql":
        size = schema.scalar(
            "SELECT data_length + index_length FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = 'events'"
        )
    else:
        size = schema.scalar("SELECT pg_total_relation_size('events')")
    return round(int(size or 0) / 2**20, 1)
