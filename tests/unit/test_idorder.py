"""A large batch's events put in event_id order (spark_app.job.idorder): spilled runs, merged."""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from spark_app.job import idorder
from spark_app.job.idorder import in_id_order, segment_count
from spark_app.sink.batch import prepare
from tests.unit.test_batch import OLD, event, marker, table

ROW = dict[str, Any]


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spill folders go under the test's own folder, where a test can see what is left."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def rows_of(tables: list[pa.Table]) -> list[ROW]:
    return [row for part in tables for row in part.to_pylist()]


def user(path: str, line: int, user_id: str) -> ROW:
    return {"kind": "users", "source_file": path, "file_modified": OLD, "source_line": line,
            "user_id": user_id, "name": "N"}  # fmt: skip


def rejected(path: str, line: int) -> ROW:
    return {"kind": "events", "source_file": path, "file_modified": OLD, "source_line": line,
            "reason": "missing_user_id", "raw_line": f"line {line}"}  # fmt: skip


def expected(segments: list[list[list[ROW]]]) -> list[ROW]:
    """Segment by segment: its other rows as they came, then its valid events by id, equal
    ids in arrival order (a stable sort of rows that came in arrival order)."""
    out: list[ROW] = []
    for segment in segments:
        rows = [row for chunk in segment for row in table(*chunk).to_pylist()]
        is_event = [row["kind"] == "events" and row["reason"] is None for row in rows]
        out += [row for row, valid in zip(rows, is_event, strict=True) if not valid]
        events = [row for row, valid in zip(rows, is_event, strict=True) if valid]
        out += sorted(events, key=lambda row: row["event_id"])
    return out


def ordered(segments: list[list[list[ROW]]], chunk_rows: int) -> list[pa.Table]:
    return list(in_id_order([[table(*chunk) for chunk in s] for s in segments], chunk_rows))


def test_other_rows_come_first_then_the_events_by_id_equal_ids_in_arrival_order(
    monkeypatch: pytest.MonkeyPatch, private_temp: Path
) -> None:
    monkeypatch.setattr(idorder, "RUN_CHUNKS", 1)  # a run per chunk
    first = [
        [marker("f1", OLD, 5), event("f1", OLD, 2, "c"), rejected("f1", 3),
         event("f1", OLD, 4, "a", "1.00")],
        [event("f1", OLD, 5, "a", "2.00"), user("f1", 6, "u9"), event("f1", OLD, 7, "b")],
    ]  # fmt: skip
    second = [[event("f2", OLD, 2, "a", "3.00"), event("f2", OLD, 3, "0")]]
    out = ordered([first, second], chunk_rows=2)
    got = [(row["kind"], row["source_file"], row["source_line"], row["event_id"]) for row in
           rows_of(out)]  # fmt: skip
    assert got == [
        ("file", "f1", 0, None), ("events", "f1", 3, None), ("users", "f1", 6, None),
        ("events", "f1", 4, "a"), ("events", "f1", 5, "a"), ("events", "f1", 7, "b"),
        ("events", "f1", 2, "c"),
        ("events", "f2", 3, "0"), ("events", "f2", 2, "a"),
    ]  # fmt: skip
    assert rows_of(out) == expected([first, second])
    assert all(part.schema == out[0].schema for part in out)
    assert list(private_temp.glob("ingest-sort-*")) == []


@pytest.mark.parametrize(
    ("seed", "chunk_rows", "run_chunks", "max_runs"),
    [(1, 7, 1, 2), (2, 50, 4, 64), (3, 3, 2, 3), (4, 20, 1, 64)],
)
def test_any_mix_of_rows_comes_out_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch, seed: int, chunk_rows: int, run_chunks: int, max_runs: int
) -> None:
    """Random files with repeated ids, cut into random chunks; few runs merged at once, so a
    segment's first runs are merged into one before the last ones are added."""
    monkeypatch.setattr(idorder, "RUN_CHUNKS", run_chunks)
    monkeypatch.setattr(idorder, "MAX_RUNS", max_runs)
    monkeypatch.setattr(idorder, "SPILL_BATCH_ROWS", 2)
    pick = random.Random(seed)
    segments: list[list[list[ROW]]] = []
    for number in range(3):
        rows: list[ROW] = []
        for file in range(pick.randint(1, 3)):
            path, modified = f"s{number}f{file}", OLD + timedelta(seconds=number * 10 + file)
            rows.append(marker(path, modified, 1))
            for line in range(2, pick.randint(3, 90)):
                if pick.random() < 0.1:
                    rows.append(rejected(path, line))
                else:
                    rows.append(event(path, modified, line, f"e{pick.randint(0, 60):02d}"))
        cuts = sorted(pick.sample(range(1, len(rows)), min(4, len(rows) - 1)))
        segments.append([rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)])
    out = ordered(segments, chunk_rows)
    assert rows_of(out) == expected(segments)
    # A merged chunk holds less than two chunks (and a row per run): the merge's memory stays
    # bounded.
    merged = [part for part in out if part.column("reason").null_count == part.num_rows]
    assert max(part.num_rows for part in merged) < 2 * chunk_rows + max_runs


def test_merged_chunks_prepare_like_the_same_rows_in_arrival_order() -> None:
    """The transaction sees the same first row of each id either way."""
    rows = [event("f1", OLD, line, f"e{line % 4}", f"{line}.00") for line in range(2, 30)]
    (merged,) = ordered([[rows]], chunk_rows=100)
    assert prepare(merged).events == prepare(table(*rows)).events


def test_a_consumer_that_stops_stops_the_reading_and_leaves_no_files(
    private_temp: Path,
) -> None:
    closed: list[str] = []

    def segment(name: str, count: int) -> Iterator[pa.Table]:
        try:
            for line in range(2, 2 + count):
                yield table(event(name, OLD, line, f"{name}{line:03d}"))
        finally:
            closed.append(name)

    out = in_id_order([segment("a", 3), segment("b", 500)], chunk_rows=2)
    assert next(out).column("event_id").to_pylist()[:2] == ["a002", "a003"]
    out.close()
    assert closed == ["a", "b"]
    assert list(private_temp.glob("ingest-sort-*")) == []


def test_the_folders_of_killed_drivers_are_removed_not_those_of_live_ones(
    private_temp: Path,
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid names no process
    stale = private_temp / f"ingest-sort-{gone.pid}-abc"
    live = private_temp / f"ingest-sort-{os.getppid()}-def"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "run1.arrow").write_bytes(b"spilled")
    list(in_id_order([[table(event("f1", OLD, 2, "a"))]], chunk_rows=10))
    assert not stale.exists() and live.exists()


def test_a_failed_read_reaches_the_consumer() -> None:
    def failing() -> Iterator[pa.Table]:
        yield table(event("f1", OLD, 2, "a"))
        raise OSError("piece unreadable")

    with pytest.raises(OSError, match="piece unreadable"):
        list(in_id_order([failing()], chunk_rows=10))


def test_a_batch_is_two_segments_at_least_and_a_gigabyte_at_most_each() -> None:
    assert [segment_count(size) for size in (1, 1 << 30, (1 << 30) + 1, 5 << 30)] == [2, 2, 2, 5]
