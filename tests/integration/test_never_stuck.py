"""No input stops the stream for good, and nothing is lost on the way: edge values, hostile
files and a database that refuses some rows, on both sinks, with the same rows on each."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import assert_sink_matches, spark_submit
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time"
T = "2024-05-01T10:00:00Z"


def _drop(path: Path, data: bytes, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _lines(*rows: str) -> bytes:
    return "".join(row + "\n" for row in rows).encode()


def _run(sink: SinkUnderTest, drop: Path, checkpoint: Path) -> str:
    """The real stream, default admission, to the end; it must exit 0."""
    result = spark_submit(
        sink.env(), *sink.args, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint),
        "--available-now",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def test_edge_values_and_hostile_files_land_on_both_sinks(
    sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop, now = tmp_path / "drop", time.time()
    utf16 = HEADER + "\r\n" + f"w1,ü1,p1,view,1.5,{T}\r\n" + f"w2,u2,p2,purchase,2,{T}\r\n"
    backfill = [HEADER] + [
        f"b{n},u{n % 50},p{n % 20},{('view', 'purchase')[n % 2]},1.25,"
        f"{datetime.fromtimestamp(1_600_000_000 + 60 * (n // 2), UTC):%Y-%m-%dT%H:%M:%SZ}"
        for n in range(50_000)
    ]  # fmt: skip
    files = [
        _drop(drop / "future.csv", _lines(HEADER, f"f1,u1,p1,view,1,{T}"),
              datetime(2200, 1, 1, tzinfo=UTC).timestamp()),
        _drop(drop / "epoch.csv", _lines(HEADER, f"f0,u1,p1,view,1,{T}"), 0),
        _drop(drop / "nul.csv", _lines(HEADER, f"n1,u\x001,p1,view,1,{T}", f"n2,u1,p1,view,1,{T}"),
              now - 50),
        _drop(drop / "excel.csv", b"\xff\xfe" + utf16.encode("utf-16-le"), now - 40),
        _drop(drop / "a b.csv", _lines(HEADER, f"s1,u1,p1,view,1,{T}"), now - 30),
        _drop(drop / "c%20d.csv", _lines(HEADER, f"s2,u1,p1,view,1,{T}"), now - 30),
        _drop(drop / "edges.csv", _lines(
            HEADER,
            "t1,u1,p1,view,1,9999-12-31T23:00:00-05:00",  # past year 9999 once in UTC
            "t2,u1,p1,view,1,1000-01-01T00:30:00+01:00",  # before year 1000 once in UTC
            "t3,u1,p1,view,1,9999-12-31T23:59:59.999999Z",
            "t4,u1,p1,view,99999999.994,1000-01-01T00:00:00Z",
        ), now - 20),
        _drop(drop / "backfill.csv", "\n".join(backfill).encode(), now - 10),
    ]  # fmt: skip
    _run(sink, drop, tmp_path / "checkpoint")

    # A file after the one dated 2200, in a later batch, still lands.
    late = _drop(drop / "later.csv", _lines(HEADER, f"z1,u1,p1,view,1,{T}"), time.time())
    _run(sink, drop, tmp_path / "checkpoint")
    expected = assert_sink_matches(sink, [*files, late])

    events = sink.events()
    assert {"f0", "f1", "w1", "w2", "s1", "s2", "n2", "t3", "t4", "z1"} <= set(events)
    assert events["w1"][0] == "ü1"
    assert sum(1 for key in events if key.startswith("b")) == 50_000
    rejected = sink.rejected()
    assert ("nul.csv", "malformed_row", 2) in rejected
    assert {("edges.csv", "bad_event_time", 2), ("edges.csv", "bad_event_time", 3)} <= set(rejected)
    (raw,) = sink.query("SELECT raw_line FROM events_rejected WHERE source_file LIKE %s",
                        ("%nul.csv",))[0]  # fmt: skip
    assert raw == f"n1,u\ufffd1,p1,view,1,{T}"
    names = sorted(row[0].rsplit("/", 1)[-1] for row in sink.query(
        "SELECT source_file FROM ingest_files"))  # fmt: skip
    assert names == sorted(path.name for path in [*files, late])
    assert len(expected.events) == len(events)


def test_rows_the_database_refuses_are_quarantined_and_the_rest_commits(
    sink: SinkUnderTest, tmp_path: Path
) -> None:
    """A CHECK constraint added by hand refuses some rows: they go to events_rejected as
    sink_refused with the database's message; every other row of their batch is committed."""
    check = "ALTER TABLE events ADD CONSTRAINT price_cap CHECK (price < 1000)"
    with _owner(sink) as cursor:
        cursor.execute(check)
    drop = tmp_path / "drop"
    rows = [f"r{n},u{n % 3},p1,view,{2000 if n in (7, 123, 124) else 5},{T}" for n in range(400)]
    _drop(drop / "capped.csv", _lines(HEADER, *rows), time.time() - 5)
    _run(sink, drop, tmp_path / "checkpoint")

    events = sink.events()
    assert len(events) == 397 and not {"r7", "r123", "r124"} & set(events)
    refused = sink.query(
        "SELECT source_line, detail, raw_line FROM events_rejected WHERE reason = 'sink_refused'"
        " ORDER BY source_line"
    )
    assert [row[0] for row in refused] == [9, 125, 126]
    assert all("price_cap" in row[1] for row in refused), refused
    assert refused[0][2].startswith("r7,u1,p1,view,2000")
    read, written, duplicates, rejected = sink.totals()
    assert (read, written, duplicates, rejected) == (400, 397, 0, 3)
    assert sink.per_minute() == sink.per_minute_from_events()


class _owner:
    """A cursor of the schema owner, committed on exit."""

    def __init__(self, sink: SinkUnderTest) -> None:
        from spark_app.sink.drivers import open_connection

        self.connection = open_connection(sink.settings("owner"))

    def __enter__(self) -> object:
        return self.connection.cursor()

    def __exit__(self, *_: object) -> None:
        self.connection.commit()
        self.connection.close()
