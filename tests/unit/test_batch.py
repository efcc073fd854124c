"""A batch made ready to commit (spark_app.sink.batch): pure Arrow, small tables built inline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from spark_app.sink.batch import (
    EVENT_COLUMNS,
    LINEAGE_COLUMNS,
    REJECTED_COLUMNS,
    MinuteTotal,
    distinct,
    minute_totals,
    prepare,
    without,
)

UTC_US = pa.timestamp("us", tz="UTC")
PRICE = pa.decimal128(10, 2)
# The Arrow form of parse.schemas.VALIDATED, as Spark's toArrow gives it (session zone UTC).
VALIDATED = pa.schema(
    [
        ("kind", pa.string()),
        ("source_file", pa.string()),
        ("file_modified", UTC_US),
        ("source_line", pa.int32()),
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("product_id", pa.string()),
        ("event_type", pa.string()),
        ("price", PRICE),
        ("event_time", UTC_US),
        ("name", pa.string()),
        ("email", pa.string()),
        ("city", pa.string()),
        ("registered_at", UTC_US),
        ("category", pa.string()),
        ("list_price", PRICE),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("raw_line", pa.string()),
    ]
)

OLD = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
NEW = OLD + timedelta(minutes=5)
TIME = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def table(*rows: dict[str, Any]) -> pa.Table:
    """Validated rows; columns not named are null."""
    return pa.Table.from_pylist(list(rows), schema=VALIDATED)


def marker(path: str, modified: datetime, records: int) -> dict[str, Any]:
    return {"kind": "file", "source_file": path, "file_modified": modified, "source_line": 0,
            "detail": str(records)}  # fmt: skip


def event(
    path: str,
    modified: datetime,
    line: int,
    event_id: str,
    price: str = "1.00",
    *,
    user: str = "u1",
    product: str = "p1",
    event_type: str = "view",
    at: datetime = TIME,
) -> dict[str, Any]:
    return {"kind": "events", "source_file": path, "file_modified": modified,
            "source_line": line, "event_id": event_id, "user_id": user, "product_id": product,
            "event_type": event_type, "price": Decimal(price), "event_time": at}  # fmt: skip


def user(
    path: str, modified: datetime, line: int, user_id: str, name: str, city: str = "Oslo"
) -> dict[str, Any]:
    return {"kind": "users", "source_file": path, "file_modified": modified, "source_line": line,
            "user_id": user_id, "name": name, "email": f"{user_id}@example.com", "city": city,
            "registered_at": TIME}  # fmt: skip


def product(
    path: str, modified: datetime, line: int, product_id: str, name: str, price: str = "9.99"
) -> dict[str, Any]:
    return {"kind": "products", "source_file": path, "file_modified": modified,
            "source_line": line, "product_id": product_id, "name": name, "category": "home",
            "list_price": Decimal(price)}  # fmt: skip


def rejected(
    path: str, modified: datetime, line: int, reason: str, kind: str = "events"
) -> dict[str, Any]:
    return {"kind": kind, "source_file": path, "file_modified": modified, "source_line": line,
            "reason": reason, "raw_line": f"raw {path} {line}"}  # fmt: skip


def events_of(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    """What prepare keeps of event rows: the event columns and the lineage."""
    return [{name: row[name] for name in EVENT_COLUMNS + LINEAGE_COLUMNS} for row in rows]


def test_arrival_order_beats_name_order() -> None:
    # b.csv sorts after a.csv by name but was modified first: its row of e1 is the first.
    early = event("file:/in/b.csv", OLD, 7, "e1", "2.00")
    late = event("file:/in/a.csv", NEW, 2, "e1", "3.00")
    files = [marker("file:/in/a.csv", NEW, 1), marker("file:/in/b.csv", OLD, 1)]
    batch = prepare(table(*files, late, early))
    assert batch.events.to_pylist() == events_of(early)
    assert batch.in_chunk_duplicates == 1


def test_same_time_then_name_then_line_decides_the_first_row() -> None:
    rows = [
        event("file:/in/b.csv", OLD, 2, "e1", "1.00"),
        event("file:/in/a.csv", OLD, 9, "e1", "2.00"),  # a.csv before b.csv at the same time
        event("file:/in/a.csv", OLD, 4, "e2", "3.00"),
        event("file:/in/a.csv", OLD, 3, "e2", "4.00"),  # line 3 before line 4
    ]
    batch = prepare(table(*rows))
    assert batch.events.to_pylist() == events_of(rows[1], rows[3])
    assert batch.in_chunk_duplicates == 2


def test_a_chunk_in_arrival_order_or_shuffled_gives_the_same_batch() -> None:
    # As a wave gives them: each piece's records in order, then its marker (line 0).
    rows = [
        event("file:/in/a.csv", OLD, 2, "e2", "1.00"),
        event("file:/in/a.csv", OLD, 3, "e1", "2.00"),
        marker("file:/in/a.csv", OLD, 2),
        event("file:/in/a.csv", OLD, 4, "e2", "3.00"),
        event("file:/in/a.csv", OLD, 5, "e3", "4.00"),
        marker("file:/in/a.csv", OLD, 2),
        event("file:/in/b.csv", OLD, 2, "e3", "5.00"),
        event("file:/in/a.csv", NEW, 2, "e1", "6.00"),
        marker("file:/in/b.csv", OLD, 1),
        marker("file:/in/a.csv", NEW, 1),
    ]
    shuffled = [rows[index] for index in (7, 0, 9, 5, 3, 6, 1, 8, 4, 2)]
    for order in (rows, shuffled, rows[::-1]):
        batch = prepare(table(*order))
        assert batch.events.to_pylist() == events_of(rows[1], rows[0], rows[4])
        assert batch.in_chunk_duplicates == 3
        assert batch.records_per_file == {
            ("file:/in/a.csv", OLD.replace(tzinfo=None)): 4,
            ("file:/in/b.csv", OLD.replace(tzinfo=None)): 1,
            ("file:/in/a.csv", NEW.replace(tzinfo=None)): 1,
        }


def test_events_are_written_in_event_id_order() -> None:
    rows = [event("file:/in/a.csv", OLD, line, event_id)
            for line, event_id in ((2, "e3"), (3, "e1"), (4, "e10"), (5, "e2"))]  # fmt: skip
    batch = prepare(table(*rows))
    assert batch.events.column("event_id").to_pylist() == ["e1", "e10", "e2", "e3"]


def test_the_latest_user_and_product_rows_win() -> None:
    rows = [
        user("file:/in/b.csv", NEW, 2, "u1", "Ann (newer file)"),
        user("file:/in/a.csv", OLD, 2, "u1", "Ann (older file)"),
        user("file:/in/c.csv", OLD, 3, "u2", "Bo, line 3"),
        user("file:/in/c.csv", OLD, 5, "u2", "Bo, line 5"),
        product("file:/in/z.csv", OLD, 2, "p1", "Lamp (older file)"),
        product("file:/in/y.csv", NEW, 4, "p1", "Lamp (newer file)", "12.50"),
    ]
    batch = prepare(table(*rows))
    assert [(r["user_id"], r["name"]) for r in batch.users.to_pylist()] == [
        ("u1", "Ann (newer file)"),
        ("u2", "Bo, line 5"),
    ]
    assert batch.products.select(["product_id", "name", "list_price"]).to_pylist() == [
        {"product_id": "p1", "name": "Lamp (newer file)", "list_price": Decimal("12.50")}
    ]
    # Every row counts as written (an upsert), not only the one that wins.
    assert (batch.user_rows, batch.product_rows) == (4, 2)
    assert batch.in_chunk_duplicates == 0


def test_every_file_read_is_counted_even_without_records() -> None:
    batch = prepare(
        table(
            marker("file:/in/new.csv", NEW, 2),
            marker("file:/in/empty.csv", OLD, 0),
            event("file:/in/new.csv", NEW, 2, "e1"),
            rejected("file:/in/new.csv", NEW, 3, "bad_price"),
        )
    )
    assert batch.records_per_file == {
        ("file:/in/empty.csv", datetime(2026, 1, 1, 9, 0)): 0,
        ("file:/in/new.csv", datetime(2026, 1, 1, 9, 5)): 2,
    }
    assert batch.rows_read == 2  # the markers are not rows


def test_a_batch_of_empty_files_only() -> None:
    batch = prepare(table(marker("file:/in/a.csv", OLD, 0), marker("file:/in/b.csv", OLD, 0)))
    assert [path for path, _ in batch.records_per_file] == ["file:/in/a.csv", "file:/in/b.csv"]
    assert batch.rows_read == 0
    assert (batch.events.num_rows, batch.users.num_rows, batch.rejected.num_rows) == (0, 0, 0)


def test_rejected_rows_keep_their_reason_and_raw_line_in_arrival_order() -> None:
    batch = prepare(
        table(
            rejected("file:/in/b.csv", OLD, 2, "bad_email", "users"),
            rejected("file:/in/a.csv", NEW, 5, "bad_price"),
            event("file:/in/a.csv", NEW, 4, "e1"),
        )
    )
    assert batch.rejected.column_names == list(REJECTED_COLUMNS)
    assert batch.rejected.to_pylist() == [
        {"reason": "bad_email", "detail": None, "source_file": "file:/in/b.csv",
         "source_line": 2, "raw_line": "raw file:/in/b.csv 2"},
        {"reason": "bad_price", "detail": None, "source_file": "file:/in/a.csv",
         "source_line": 5, "raw_line": "raw file:/in/a.csv 5"},
    ]  # fmt: skip


def test_every_row_read_is_accounted_for_once() -> None:
    a, b = "file:/in/a.csv", "file:/in/b.csv"
    rows = [
        marker(a, OLD, 6),
        event(a, OLD, 2, "e1"),
        event(a, OLD, 3, "e2"),
        event(a, OLD, 4, "e1"),
        rejected(a, OLD, 5, "bad_price"),
        user(a, OLD, 6, "u1", "Ann"),
        user(a, OLD, 7, "u1", "Ann L."),
        marker(b, NEW, 3),
        event(b, NEW, 2, "e2"),
        product(b, NEW, 3, "p1", "Lamp"),
        rejected(b, NEW, 4, "bad_name", "products"),
    ]
    batch = prepare(table(*rows))
    assert batch.rows_read == 9
    counts = (batch.events.num_rows, batch.in_chunk_duplicates, batch.user_rows,
              batch.product_rows, batch.rejected.num_rows)  # fmt: skip
    assert counts == (2, 2, 2, 1, 2)
    assert batch.rows_read == sum(counts)
    assert sum(batch.records_per_file.values()) == batch.rows_read


def test_minute_totals_per_utc_minute_and_type() -> None:
    path = "file:/in/a.csv"
    minute = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    events = prepare(
        table(
            event(path, OLD, 2, "e1", "0.10", at=minute + timedelta(seconds=5)),
            event(path, OLD, 3, "e2", "0.20", at=minute + timedelta(seconds=59.999999)),
            event(path, OLD, 4, "e3", "5.00", at=minute + timedelta(minutes=1)),
            event(path, OLD, 5, "e4", "7.25", event_type="purchase", at=minute),
            event(path, OLD, 6, "e1", "100.00", at=minute),  # a duplicate: not counted
        )
    ).events
    assert minute_totals(events) == [
        MinuteTotal(datetime(2026, 1, 1, 10, 0), "purchase", 1, Decimal("7.25")),
        MinuteTotal(datetime(2026, 1, 1, 10, 0), "view", 2, Decimal("0.30")),
        MinuteTotal(datetime(2026, 1, 1, 10, 1), "view", 1, Decimal("5.00")),
    ]


def test_minute_totals_of_no_events() -> None:
    assert minute_totals(prepare(table(marker("file:/in/a.csv", OLD, 0))).events) == []


def test_without_drops_the_named_events() -> None:
    rows = [event("file:/in/a.csv", OLD, line, f"e{line}") for line in (2, 3, 4)]
    events = prepare(table(*rows)).events
    assert without(events, {"e3", "e9"}).column("event_id").to_pylist() == ["e2", "e4"]
    assert without(events, set()).column("event_id").to_pylist() == ["e2", "e3", "e4"]


def test_distinct_values_are_sorted_without_nulls() -> None:
    values = pa.table({"user_id": pa.array(["u2", None, "u1", "u2", "u10"], pa.string())})
    assert distinct(values, "user_id") == ["u1", "u10", "u2"]
