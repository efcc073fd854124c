"""The bulk paths (LOAD DATA, COPY, and MySQL's INSERT fallback) store every value as given.

Values are chosen to break a text format: its separators and escape character, the spellings
of NULL, quotes, non-ASCII. Each is written through the writer account's dialect and read back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from spark_app.sink import dialect_for
from spark_app.sink.batch import BatchKey
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

TRICKY = [
    "tab\there",
    "back\\slash",
    "ends with \\",
    "\\t is not a tab",
    "new\nline",
    "carriage\rreturn\r\n",
    "\\N",
    "NULL",
    "",
    "\"double\" 'single' `back`",
    "ünïcödé 🚀 中文",
    "comma, semicolon; pipe|",
]
QUERY_ID = "00000000-0000-4000-8000-000000000001"


def _events() -> pa.Table:
    count = len(TRICKY)
    return pa.table(
        {
            "event_id": [f"id-{index:02d}" for index in range(count)],
            "user_id": TRICKY,
            "product_id": list(reversed(TRICKY)),
            "event_type": ["view"] * count,
            "price": pa.array([Decimal(f"{index}.{index:02d}") for index in range(count)]).cast(
                pa.decimal128(10, 2)
            ),
            "event_time": pa.array(
                [datetime(2026, 12, 2, 10, index, 5, 1000 * index, UTC) for index in range(count)],
                pa.timestamp("us", tz="UTC"),
            ),
            "source_file": [f"file:/in/{value}.csv" for value in TRICKY],
            "source_line": pa.array(range(1, count + 1), pa.int32()),
        }
    )


def _rejected() -> pa.Table:
    count = len(TRICKY)
    return pa.table(
        {
            "reason": ["malformed"] * count,
            "detail": [None if index % 2 else value for index, value in enumerate(TRICKY)],
            "source_file": [f"file:/in/{value}.csv" for value in TRICKY],
            "source_line": pa.array(range(1, count + 1), pa.int32()),
            "raw_line": [*TRICKY[:-1], None],
        }
    )


def _write(sink: SinkUnderTest, use_load: bool) -> None:
    dialect = dialect_for(sink.settings("writer"))
    if sink.kind == "mysql":
        assert dialect.detect_write_path() == "load-data"
        dialect.use_load = use_load  # type: ignore[attr-defined]
        dialect.load_min_rows = 0  # type: ignore[attr-defined]  # a few rows, loaded all the same
    key = BatchKey(QUERY_ID, 7)
    now = datetime(2026, 12, 2, 11, 0, 0, 123456)
    connection = dialect.connect()
    try:
        dialect.begin(connection)
        assert dialect.load_events(connection, key, _events(), now).num_rows == len(TRICKY)
        assert dialect.insert_rejected(connection, key, _rejected(), now) == len(TRICKY)
        connection.commit()
    finally:
        connection.close()


def test_every_value_is_stored_as_given(sink: SinkUnderTest) -> None:
    _write(sink, use_load=True)
    _assert_stored(sink)


def test_the_insert_fallback_stores_them_too(mysql: SinkUnderTest) -> None:
    _write(mysql, use_load=False)
    _assert_stored(mysql)


def _assert_stored(sink: SinkUnderTest) -> None:
    stored = sink.query(
        "SELECT event_id, user_id, product_id, price, event_time, source_file, source_line,"
        " query_id, batch_id, ingested_at FROM events ORDER BY event_id"
    )
    events = _events().to_pylist()
    assert [
        (
            row[0], row[1], row[2], Decimal(row[3]), row[4], row[5], row[6], row[7], row[8],
            row[9],
        )
        for row in stored
    ] == [
        (
            event["event_id"], event["user_id"], event["product_id"], event["price"],
            event["event_time"].replace(tzinfo=None), event["source_file"],
            event["source_line"], QUERY_ID, 7, datetime(2026, 12, 2, 11, 0, 0, 123456),
        )
        for event in events
    ]  # fmt: skip

    rejected = sink.query(
        "SELECT reason, detail, source_file, source_line, raw_line, batch_id"
        " FROM events_rejected ORDER BY source_line"
    )
    expected = [
        (
            row["reason"],
            row["detail"],
            row["source_file"],
            row["source_line"],
            row["raw_line"] or "",
            7,
        )
        for row in _rejected().to_pylist()
    ]
    assert [tuple(row) for row in rejected] == expected


def test_ids_already_stored_are_found_whatever_their_characters(sink: SinkUnderTest) -> None:
    """The duplicates of a later batch, and the placeholders already there, are found by id
    however the ids are spelled (PostgreSQL sends them as one text[] literal)."""
    ids = [value for value in TRICKY if value]
    first = (
        _events()
        .filter(pa.array([bool(value) for value in TRICKY]))
        .set_column(0, "event_id", pa.array(ids))
    )
    later = pa.concat_tables([first, first.set_column(0, "event_id", pa.array(ids[::-1]))])
    later = later.set_column(0, "event_id", pa.array(ids + [f"new {value}" for value in ids]))
    dialect = dialect_for(sink.settings("writer"))
    dialect.detect_write_path()
    now = datetime(2026, 12, 2, 11, 0, 0)
    connection = dialect.connect()
    try:
        dialect.begin(connection)
        assert dialect.load_events(connection, BatchKey(QUERY_ID, 1), first, now).num_rows == len(
            ids
        )
        assert dialect.insert_missing(connection, "users", "user_id", ids, now) == len(ids)
        connection.commit()
        dialect.begin(connection)
        written = dialect.load_events(connection, BatchKey(QUERY_ID, 2), later, now)
        assert sorted(written.column("event_id").to_pylist()) == sorted(f"new {v}" for v in ids)
        assert dialect.insert_missing(connection, "users", "user_id", ["other", *ids], now) == 1
        connection.commit()
    finally:
        connection.close()
    assert sorted(row[0] for row in sink.query("SELECT user_id FROM users")) == sorted(
        ["other", *ids]
    )


def test_chunks_with_and_without_stored_ids_write_exactly_their_new_rows(
    sink: SinkUnderTest,
) -> None:
    """Chunk after chunk in one transaction: a chunk without stored ids is written whole, one
    whose stored id comes last or first keeps only its new rows, and the next clean chunk is
    written whole again (PostgreSQL copies a chunk whole until it meets a stored id)."""
    base = _events().slice(0, 4)

    def chunk(*ids: str) -> pa.Table:
        return base.slice(0, len(ids)).set_column(0, "event_id", pa.array(ids))

    dialect = dialect_for(sink.settings("writer"))
    dialect.detect_write_path()
    if sink.kind == "mysql":
        dialect.load_min_rows = 0  # type: ignore[attr-defined]  # a few rows, loaded all the same
    steps = [
        (chunk("a", "b", "c"), ["a", "b", "c"]),
        (chunk("d", "e", "a"), ["d", "e"]),
        (chunk("f", "g"), ["f", "g"]),
        (chunk("b", "h"), ["h"]),
        (chunk("c", "d"), []),
        (chunk("i", "j", "k", "l"), ["i", "j", "k", "l"]),
    ]
    now = datetime(2026, 12, 2, 11, 0, 0)
    connection = dialect.connect()
    try:
        dialect.begin(connection)
        for number, (rows, new) in enumerate(steps):
            written = dialect.load_events(connection, BatchKey(QUERY_ID, 3), rows, now)
            assert sorted(written.column("event_id").to_pylist()) == new, number
        connection.commit()
    finally:
        connection.close()
    stored = sink.query("SELECT event_id FROM events ORDER BY event_id")
    assert [row[0] for row in stored] == list("abcdefghijkl")
