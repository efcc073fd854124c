"""Files cut into pieces: range bounds at line starts, line numbers, and the records of all
pieces together equal to those of the whole file, whatever falls on a range boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pytest

from spark_app.parse.csvsplit import SPLIT_SCHEMA, split_records
from spark_app.parse.pieces import (
    NOT_UTF16,
    Piece,
    SourceFile,
    in_arrival_order,
    in_groups,
    pieces_of,
    probe,
    ranges_to_probe,
    read_piece,
    spread,
)

HEADER = b"event_id,user_id,product_id,event_type,price,event_time"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SIZE = 64  # a tiny piece size, so that boundaries fall everywhere


def row(number: int) -> bytes:
    price = f"1.{number % 100:02d}"
    return f"e{number},u{number % 7},p{number % 5},view,{price},2026-01-01T00:00:00Z".encode()


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> SourceFile:
    path = tmp_path / name
    path.write_bytes(data)
    return SourceFile(f"file:{path}", T0, len(data))


def records_by_pieces(
    source: SourceFile, size: int = SIZE, first: int | None = None
) -> list[tuple[object, ...]]:
    """Probe, plan and read every piece, as the job does; the records as tuples."""
    probes = [probe(nominal) for nominal in ranges_to_probe([source], size, first=first, width=2)]
    tables = [table for piece in pieces_of([source], probes, size) for table in read_piece(piece)]
    if not tables:
        return []
    return [tuple(row.values()) for row in pa.concat_tables(tables).to_pylist()]


def records_whole(data: bytes) -> list[tuple[object, ...]]:
    return [tuple(record) for record in split_records(data)]


def parts(source: SourceFile, size: int = SIZE, first: int | None = None) -> list[Piece]:
    probes = [probe(nominal) for nominal in ranges_to_probe([source], size, first=first, width=2)]
    return pieces_of([source], probes, size)


@pytest.mark.parametrize(
    "data",
    [
        HEADER + b"\n" + b"\n".join(row(n) for n in range(40)) + b"\n",
        HEADER + b"\r\n" + b"\r\n".join(row(n) for n in range(40)),  # CRLF, no final newline
        b"\xef\xbb\xbf" + HEADER + b"\n" + b"\n".join(row(n) for n in range(40)),  # BOM
        HEADER + b"\n\n  \n" + b"\n\n".join(row(n) for n in range(40)) + b"\n\n",  # blank lines
        HEADER + b"\n" + b"\n".join(row(n) + b",extra" * (n % 3) for n in range(40)),  # bad counts
        HEADER + b"\n" + b"\r".join(row(n) for n in range(40)),  # lone CR line ends
        HEADER + b"\n" + "\n".join(f"e{n},ü{n},p,view,1,2026-01-01" for n in range(30)).encode(),
        HEADER + b"\n" + b"\n".join(row(n) for n in range(10)) + b"\n\xff\xfe\n" + row(99),
    ],
    ids=["lf", "crlf", "bom", "blank", "counts", "cr", "non-ascii", "bad-utf8"],
)
@pytest.mark.parametrize("first", [None, SIZE // 4], ids=["even", "ramp"])
def test_pieces_give_the_records_of_the_whole_file(
    tmp_path: Path, data: bytes, first: int | None
) -> None:
    source = write(tmp_path, data)
    planned = parts(source, first=first)
    assert len(planned) > 3 and not any(piece.whole for piece in planned)
    assert records_by_pieces(source, first=first) == records_whole(data)


def test_ranges_start_small_and_double_every_width_up_to_a_piece() -> None:
    source = SourceFile("file:/d/big.csv", T0, 1000)
    ranges = ranges_to_probe([source], 64, first=8, width=2)
    assert [nominal.stop - nominal.start for nominal in ranges[:8]] == [
        8,
        8,
        16,
        16,
        32,
        32,
        64,
        64,
    ]
    assert [nominal.index for nominal in ranges] == list(range(len(ranges)))
    assert ranges[0].start == 0 and ranges[-1].stop >= 1000 > ranges[-1].start
    assert all(before.stop == after.start for before, after in pairwise(ranges))
    assert ranges_to_probe([SourceFile("file:/d/small.csv", T0, 64)], 64, first=8) == []


@pytest.mark.parametrize("first", [None, SIZE // 4], ids=["even", "ramp"])
def test_every_range_starts_at_a_line_and_they_tile_the_file(
    tmp_path: Path, first: int | None
) -> None:
    data = HEADER + b"\r\n" + b"\r\n".join(row(n) for n in range(50)) + b"\r\n"
    source = write(tmp_path, data)
    planned = parts(source, first=first)
    assert planned[0].start == 0 and planned[-1].end == len(data)
    for before, after in pairwise(planned):
        assert before.end == after.start
        assert data[after.start - 1 : after.start] in (b"\n", b"\r")
        # The line numbers continue from one range to the next.
        assert after.first_line == before.first_line + data[before.start : before.end].count(b"\n")
    assert planned[0].kind is None and {piece.kind for piece in planned[1:]} == {"events"}


def test_a_quote_anywhere_makes_the_file_one_streamed_piece(tmp_path: Path) -> None:
    rows = [row(n) for n in range(40)]
    rows[25] = b'q1,"u\nwith a newline",p,view,1,2026-01-01T00:00:00Z'
    data = HEADER + b"\n" + b"\n".join(rows) + b"\n"
    source = write(tmp_path, data)
    assert [piece.whole for piece in parts(source)] == [True]
    assert records_by_pieces(source) == records_whole(data)


def test_an_unclosed_quote_near_the_end_is_read_again_after_its_line(tmp_path: Path) -> None:
    data = HEADER + b"\n" + b"\n".join(row(n) for n in range(30)) + b'\ne1,"u,p\n' + row(31)
    source = write(tmp_path, data)
    got = records_by_pieces(source)
    assert got == records_whole(data)
    assert got[-2][4] == "malformed_row" and got[-1][1] == 33


def test_a_file_of_one_line_and_a_line_longer_than_a_range(tmp_path: Path) -> None:
    single = write(tmp_path, HEADER, "one.csv")
    assert records_by_pieces(single) == []
    long_line = HEADER + b"\n" + b"e1,u" + b"x" * 300 + b",p,view,1,2026-01-01\n" + row(2) + b"\n"
    source = write(tmp_path, long_line, "long.csv")
    assert records_by_pieces(source) == records_whole(long_line)


def test_a_header_of_no_kind_makes_the_file_one_piece(tmp_path: Path) -> None:
    data = b"a,b\n" + b"\n".join(row(n) for n in range(30))
    source = write(tmp_path, data)
    assert [piece.whole for piece in parts(source)] == [True]
    got = records_by_pieces(source)
    assert {record[4] for record in got} == {"bad_header"} and len(got) == 30


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_files_are_decoded(tmp_path: Path, encoding: str) -> None:
    text = HEADER.decode() + "\r\n" + "\r\n".join(row(n).decode() for n in range(40)) + "\r\n"
    bom = b"\xff\xfe" if encoding.endswith("le") else b"\xfe\xff"
    source = write(tmp_path, bom + text.encode(encoding))
    assert [piece.whole for piece in parts(source)] == [True]
    assert records_by_pieces(source) == records_whole(text.encode())


def test_a_lone_surrogate_in_utf16_is_a_malformed_row(tmp_path: Path) -> None:
    data = b"\xff\xfe" + (HEADER.decode() + "\n").encode("utf-16-le")
    data += row(1).decode().encode("utf-16-le") + b"\x00\xd8" + "\n".encode("utf-16-le")
    data += row(2).decode().encode("utf-16-le")
    got = records_by_pieces(write(tmp_path, data))
    assert [(record[1], record[4], record[5]) for record in got] == [
        (2, "malformed_row", NOT_UTF16),
        (3, None, None),
    ]
    assert "\ufffd" in str(got[0][2])


def test_small_files_are_one_piece_each_in_arrival_order(tmp_path: Path) -> None:
    late = SourceFile("file:/d/a.csv", datetime(2026, 1, 2, tzinfo=UTC), 10)
    early = SourceFile("file:/d/b.csv", T0, 10)
    empty = SourceFile("file:/d/c.csv", T0, 0)
    assert in_arrival_order([late, early, empty]) == [early, empty, late]
    planned = pieces_of([late, early, empty], [], SIZE)
    assert [(piece.path, piece.whole) for piece in planned] == [
        ("file:/d/b.csv", True),
        ("file:/d/a.csv", True),
    ]


def test_groups_pack_consecutive_pieces_up_to_the_budget() -> None:
    def piece(size: int) -> Piece:
        return Piece("file:/d/x.csv", T0, 0, size, 1, None, True)

    sizes = [
        [len(group)] + [p.end for p in group]
        for group in in_groups([piece(40), piece(30), piece(20), piece(90)], 64)
    ]
    assert sizes == [[1, 40], [2, 30, 20], [1, 90]]


def test_a_batch_within_one_group_is_spread_over_the_width_by_bytes() -> None:
    def piece(index: int, size: int) -> Piece:
        return Piece(f"file:/d/{index}.csv", T0, 0, size, 1, None, True)

    planned = [piece(0, 9), piece(1, 10), piece(2, 8), piece(3, 9)]
    assert in_groups(planned, 64, 2) == [planned[:2], planned[2:]]
    assert in_groups(planned, 64, 8) == [[p] for p in planned]
    assert in_groups(planned, 64) == [planned]
    # More than fits one group: groups up to the budget, as many as a multiple of the width.
    assert in_groups(planned, 20, 2) == [planned[:2], planned[2:]]
    assert in_groups(planned, 18, 2) == [[p] for p in planned]
    assert in_groups(planned, 18, 1) == [planned[:1], planned[1:3], planned[3:]]


def test_pieces_spread_in_order_over_groups_of_about_even_bytes() -> None:
    """A large batch's segments for MySQL's key order (job/idorder.py)."""
    planned = [Piece(f"file:/d/{i}.csv", T0, 0, size, 1, None, True)
               for i, size in enumerate([8, 8, 8, 2, 6, 8])]  # fmt: skip
    # Each piece goes where its middle byte falls: 4 and 12 of 40 before the half, 20 on it.
    assert spread(planned, 2) == [planned[:2], planned[2:]]
    assert spread(planned, 3) == [planned[:2], planned[2:4], planned[4:]]
    assert spread(planned[:1], 2) == [planned[:1]]


def test_files_of_one_size_are_spread_evenly_over_every_core() -> None:
    def files(count: int, size: int) -> list[Piece]:
        # Sizes differ by a byte or two, as the generator's files do.
        return [Piece(f"file:/d/{i}.csv", T0, 0, size + i % 3, 1, None, True) for i in range(count)]

    four = files(4, 908)
    assert in_groups(four, 8_000, 2) == [four[:2], four[2:]]
    # Twenty files over two budgets and a bit: four groups of five, two full waves of two,
    # rather than two full groups and a remainder that leaves a core idle.
    twenty = files(20, 908)
    assert [len(group) for group in in_groups(twenty, 8_000, 2)] == [5, 5, 5, 5]
    # Two full pieces and a byte: never two pieces over the budget in one group.
    uneven = [*files(2, 1_000)[:1], *files(1, 1_000), *files(1, 1)]
    assert [len(group) for group in in_groups(uneven, 1_000, 1)] == [1, 1, 1]
    for budget in (1_000, 2_000, 8_000, 30_000):
        for width in (1, 2, 3, 4):
            groups = in_groups(twenty, budget, width)
            assert [p for group in groups for p in group] == twenty
            assert all(sum(p.end - p.start for p in group) <= budget for group in groups)
            assert len(groups) % width == 0 or len(groups) == len(twenty)


def test_a_range_of_a_large_file_is_a_group_of_its_own() -> None:
    whole = Piece("file:/d/a.csv", T0, 0, 10, 1, None, True)
    ranges = [Piece("file:/d/b.csv", T0, start, start + 8, 1, None, False) for start in (0, 8)]
    assert in_groups([whole, *ranges, whole], 64, 2) == [[whole], ranges[:1], ranges[1:], [whole]]


def test_split_schema_is_what_read_piece_yields(tmp_path: Path) -> None:
    source = write(tmp_path, HEADER + b"\n" + row(1))
    [table] = list(read_piece(parts(source)[0]))
    assert table.schema == SPLIT_SCHEMA


@pytest.mark.parametrize("ending", [b"\r\n", b"\r", b"\n"])
def test_any_boundary_inside_a_line_end_gives_the_same_records(
    tmp_path: Path, ending: bytes
) -> None:
    """Piece sizes from 56 to 71 put a nominal boundary on every byte of the line ends."""
    data = HEADER + ending + ending.join(row(n) for n in range(30)) + ending
    source = write(tmp_path, data)
    expected = records_whole(data)
    for size in range(56, 72):
        assert records_by_pieces(source, size) == expected, size
