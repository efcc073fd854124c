"""Read-ahead: the next batch guessed as the file source admits it, named and timed as the
source log records files, and used only when the batch's files are exactly those guessed."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from spark_app.job.readahead import Admission, Ahead, ReadAhead, listing, next_files
from spark_app.parse.pieces import Piece, SourceFile
from spark_app.sink.sourcelog import _as_source_path

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def source(name: str, seconds: float, length: int = 100) -> SourceFile:
    return SourceFile(f"file:/drop/{name}", T0 + timedelta(seconds=seconds), length)


def test_the_folder_is_listed_as_the_source_log_names_and_times_files(tmp_path: Path) -> None:
    drop = tmp_path / "drop folder"
    drop.mkdir()
    (drop / "b.csv").write_text("x\n")
    (drop / "a.csv").write_text("xyz\n")
    for hidden in (".tmp.csv", "_part.csv", "c.csv.tmp", "d.txt"):
        (drop / hidden).write_text("x\n")
    (drop / "sub.csv").mkdir()
    # 1.2345678 s past a second: the log keeps whole milliseconds.
    os.utime(drop / "a.csv", ns=(0, 1_767_225_601_234_567_800))

    found = {entry.path: entry for entry in listing(str(drop))}

    uri = "file://" + (drop / "a.csv").as_posix().replace(" ", "%20")
    assert sorted(found) == [_as_source_path(uri), f"file:{drop / 'b.csv'}"]
    entry = found[_as_source_path(uri)]
    assert entry.length == 4
    assert entry.modified == datetime.fromtimestamp(1_767_225_601_234 / 1000, UTC)
    assert listing(f"file://{drop}") == listing(str(drop))


def test_a_remote_or_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert listing("s3a://bucket/drop") == []
    assert listing(str(tmp_path / "missing")) == []


def test_the_next_files_follow_the_batch_in_the_sources_order_up_to_a_count() -> None:
    taken = [source("a.csv", 1), source("b.csv", 2)]
    listed = [
        source("d.csv", 3),
        *taken,
        source("c.csv", 3),  # same time as d: the listing's order decides, as in Spark's sort
        source("e.csv", 5),
        source("old.csv", 0),  # older than the batch: an earlier batch took it
    ]

    admission = Admission("/drop", 2, 1 << 30)

    assert next_files(listed, taken, admission) == [source("d.csv", 3), source("c.csv", 3)]
    assert next_files(listed, [], admission) == []
    assert next_files(taken, taken, admission) == []


def test_files_of_one_millisecond_are_taken_in_listing_order_after_the_batch() -> None:
    # A backlog copied in at once: every file has the same time, so the source's batches are
    # runs of the listing, whatever the names.
    listed = [source(name, 1) for name in ("m.csv", "c.csv", "x.csv", "a.csv", "k.csv")]
    admission = Admission("/drop", 2, 1 << 30)

    assert next_files(listed, listed[:2], admission) == listed[2:4]
    assert next_files(listed, listed[2:4], admission) == listed[4:]


def test_after_a_batch_gone_from_the_folder_the_next_files_are_the_later_ones() -> None:
    listed = [source("c.csv", 3), source("b.csv", 2), source("d.csv", 4)]
    gone = [source("a.csv", 2)]  # archived once committed

    assert next_files(listed, gone, Admission("/drop", 5, 1 << 30)) == listed[::2]


def test_the_next_files_fill_the_byte_budget_and_take_at_least_one() -> None:
    taken = [source("a.csv", 1)]
    listed = [source("b.csv", 2, 60), source("c.csv", 3, 40), source("d.csv", 4, 1)]

    assert next_files(listed, taken, Admission("/drop", None, 100)) == listed[:2]
    assert next_files(listed, taken, Admission("/drop", None, 10)) == listed[:1]


def ahead_of(files: list[SourceFile]) -> Ahead:
    piece = Piece(files[0].path, files[0].modified, 0, files[0].length, 1, None, True)
    return Ahead(tuple(files), [piece], [[piece]], pa.table({"n": [1]}))


def test_a_batch_read_ahead_is_used_only_for_exactly_its_files() -> None:
    files = [source("a.csv", 1), source("b.csv", 2)]
    ahead = ReadAhead(Admission("/drop", None, 1 << 30))
    try:
        ahead.start(lambda: ahead_of(files))
        found = ahead.take(list(reversed(files)))  # any order: compared in arrival order
        assert found is not None
        assert found.files == tuple(files)
        assert ahead.take(files) is None  # taken once

        ahead.start(lambda: ahead_of(files))
        assert ahead.take(files[:1]) is None
        ahead.start(lambda: ahead_of(files))
        assert ahead.take([files[0], source("b.csv", 2, length=101)]) is None
    finally:
        ahead.close()


def test_a_read_under_way_is_waited_for_and_a_failed_one_is_ignored() -> None:
    files = [source("a.csv", 1)]
    release = threading.Event()

    def slow() -> Ahead:
        release.wait(5)
        return ahead_of(files)

    def failing() -> Ahead:
        raise RuntimeError("job cancelled")

    ahead = ReadAhead(Admission("/drop", None, 1 << 30))
    try:
        ahead.start(slow)
        threading.Timer(0.2, release.set).start()
        assert ahead.take(files) is not None

        ahead.start(failing)
        assert ahead.take(files) is None

        ahead.start(lambda: None)  # nothing to read ahead
        assert ahead.take(files) is None
    finally:
        ahead.close()


def test_starting_again_drops_the_earlier_read() -> None:
    first, second = [source("a.csv", 1)], [source("b.csv", 2)]
    ahead = ReadAhead(Admission("/drop", None, 1 << 30))
    try:
        ahead.start(lambda: ahead_of(first))
        ahead.start(lambda: ahead_of(second))
        assert ahead.take(first) is None
        ahead.start(lambda: ahead_of(first))
        ahead.start(lambda: ahead_of(second))
        assert ahead.take(second) is not None
    finally:
        ahead.close()
    with pytest.raises(RuntimeError):
        ahead.start(lambda: None)  # closed
