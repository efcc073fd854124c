"""Atomic writes (spark_app.common.files): the old file or the whole new one, never half."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TextIO

import pytest

from generator.records import write_csv
from spark_app.common.files import write_atomically


class Boom(RuntimeError):
    """Raised by a writer that fails part-way."""


def rows_failing_after(good: int) -> Iterator[tuple[str, ...]]:
    yield ("a", "b")
    for i in range(good):
        yield (str(i), "x" * 1000)
    raise Boom("source failed mid-file")


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_text_is_written_whole_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    target = tmp_path / "history.json"
    assert write_atomically(target, '[1, "é"]\n') == target
    assert target.read_bytes() == '[1, "é"]\n'.encode()
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


def test_a_writer_function_streams_into_the_file_without_newline_translation(
    tmp_path: Path,
) -> None:
    target = write_atomically(tmp_path / "a.csv", partial(write_csv, rows=[("a", "b"), ("1", "é")]))
    assert target.read_bytes() == "a,b\n1,é\n".encode()


def test_the_text_is_written_under_a_hidden_name_the_stream_skips(tmp_path: Path) -> None:
    seen: list[str] = []

    def write(out: TextIO) -> None:
        out.write("a,b\n")
        seen.extend(p.name for p in tmp_path.iterdir())

    write_atomically(tmp_path / "events_2.csv", write)
    (temp,) = seen
    assert temp.startswith(".events_2.csv.") and temp.endswith(".tmp")
    assert [p.name for p in tmp_path.iterdir()] == ["events_2.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "events_3.csv"
    target.write_text("old\n")
    with pytest.raises(Boom):
        write_atomically(target, partial(write_csv, rows=rows_failing_after(100)))
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["events_3.csv"]


def test_a_temporary_file_left_by_a_crash_neither_blocks_nor_is_touched(tmp_path: Path) -> None:
    leftover = tmp_path / ".events_4.csv.tmp"
    leftover.write_text("someone else's")
    write_atomically(tmp_path / "events_4.csv", "new\n")
    assert leftover.read_text() == "someone else's"
    assert (tmp_path / "events_4.csv").read_text() == "new\n"


def test_a_replaced_file_keeps_its_permissions_a_new_one_gets_the_umasks(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.write_text("old")
    kept.chmod(0o600)
    with umask(0o022):
        write_atomically(kept, "new")
        fresh = write_atomically(tmp_path / "fresh", "new")
    assert kept.stat().st_mode & 0o777 == 0o600
    assert fresh.stat().st_mode & 0o777 == 0o644
