"""The benchmark's derived large files: copies with new ids, and the quoted variant."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.scenarios import _multiplied

HEADER = "event_id,user_id,product_id,event_type,price,event_time\n"
ROWS = [f"e{n},U{n},P{n},view,1.{n}0,2026-01-01T00:00:0{n}.000Z\n" for n in range(1, 5)]


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "source.csv"
    source.write_text(HEADER + "".join(ROWS))
    return source


def _records(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_copies_get_new_event_ids_and_keep_every_row(tmp_path: Path) -> None:
    target = _multiplied(_source(tmp_path), 2, tmp_path / "out" / "big.csv")
    records = _records(target)
    assert records[0] == HEADER.strip().split(",")
    ids = [record[0] for record in records[1:]]
    assert ids == [f"00e{n}" for n in range(1, 5)] + [f"01e{n}" for n in range(1, 5)]


def test_quoted_copies_put_every_third_product_id_across_a_line_break(tmp_path: Path) -> None:
    target = _multiplied(_source(tmp_path), 3, tmp_path / "out" / "quoted.csv", quoted=True)
    records = _records(target)[1:]
    # Each record stays whole: 12 records, though every third spans two lines.
    assert len(records) == 12
    assert target.read_bytes().count(b"\r\n") == 4
    quoted = [record for number, record in enumerate(records, 1) if number % 3 == 0]
    assert [record[2] for record in quoted] == [f'P{n}\r\n,"q' for n in (3, 2, 1, 4)]
    assert all(len(record) == 6 for record in records)
