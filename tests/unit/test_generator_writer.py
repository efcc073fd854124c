"""Tests of the file drop in generator.writer: names in write order (the atomic write itself
is tested in test_files.py)."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from generator.records import write_csv
from generator.writer import FileDropper, drop_file_name

NAME_RE = re.compile(r"events_\d{8}_\d{6}_\d{6}_\d{6}\.csv")


class Boom(RuntimeError):
    """Raised by a row source that fails part-way."""


def rows_failing_after(good: int) -> Iterator[tuple[str, ...]]:
    yield ("a", "b")
    for i in range(good):
        yield (str(i), "x" * 1000)
    raise Boom("source failed mid-file")


def test_drop_file_name_is_utc_with_microseconds_and_sequence() -> None:
    moment = datetime(2026, 11, 25, 10, 33, 50, 123_456, tzinfo=UTC)
    assert drop_file_name(moment, 7) == "events_20261125_103350_123456_000007.csv"


def test_dropper_names_are_unique_and_sort_in_write_order(tmp_path: Path) -> None:
    dropper = FileDropper(tmp_path)
    paths = [dropper.drop(partial(write_csv, rows=[(str(i),)])) for i in range(20)]
    names = [p.name for p in paths]
    assert all(NAME_RE.fullmatch(name) for name in names)
    assert len(set(names)) == 20
    assert sorted(names) == names
    assert [p.read_text() for p in sorted(tmp_path.iterdir())] == [f"{i}\n" for i in range(20)]


def test_dropper_names_sort_in_write_order_when_clock_steps_back(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    moments = iter([start, start - timedelta(seconds=5), start, start + timedelta(seconds=1)])
    dropper = FileDropper(tmp_path, clock=lambda: next(moments))
    names = [dropper.drop(partial(write_csv, rows=[("x",)])).name for _ in range(4)]
    assert names == sorted(names)
    assert len(set(names)) == 4
    assert names[0] == "events_20260101_120000_000000_000001.csv"
    assert names[1] == "events_20260101_120000_000001_000002.csv"
    assert names[3] == "events_20260101_120001_000000_000004.csv"


def test_dropper_failure_leaves_nothing_and_next_drop_works(tmp_path: Path) -> None:
    dropper = FileDropper(tmp_path)
    with pytest.raises(Boom):
        dropper.drop(partial(write_csv, rows=rows_failing_after(3)))
    assert list(tmp_path.iterdir()) == []
    path = dropper.drop(partial(write_csv, rows=[("ok",)]))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_text() == "ok\n"


def test_dropper_prefix_per_drop_shares_one_sequence_and_clock(tmp_path: Path) -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    dropper = FileDropper(tmp_path, clock=lambda: moment)
    prefixes = ["dim_users", None, "dim_products", None]
    names = [dropper.drop(partial(write_csv, rows=[("x",)]), prefix=p).name for p in prefixes]
    assert names == [
        "dim_users_20260101_120000_000000_000001.csv",
        "events_20260101_120000_000001_000002.csv",
        "dim_products_20260101_120000_000002_000003.csv",
        "events_20260101_120000_000003_000004.csv",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
