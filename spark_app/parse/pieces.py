"""Dropped files cut into pieces that a task reads in bounded memory, whatever the file's size.

A file no larger than the piece size is one piece, read whole. A larger one is probed first
(one task per nominal range of the piece size): each range is moved to start at a line (just
after a line feed, as Hadoop's line reader does), and the probe counts its lines and looks for
quotes, a UTF-16 byte-order mark and the header. A file without quotes is then read as one
piece per range, in parallel, each knowing the number of its first line and the file's kind;
a file with a quote anywhere (a field may span lines), in UTF-16 or with a header of no known
kind is read by one task from start to end, streaming. Planning (plan, pieces_of) is pure;
probe and read_piece run on the executors.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from urllib.parse import quote

import pyarrow as pa

from spark_app.parse import csvsplit

# A piece's bytes are held in memory once by its task (and the Arrow split of them twice).
PIECE_BYTES = 8 << 20
# A whole-file piece larger than this is streamed rather than read into memory at once.
READ_WHOLE_UP_TO = 64 << 20
# Records per Arrow table a streaming read yields.
RECORDS_PER_TABLE = 50_000
_BLOCK = 4 << 20
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
NOT_UTF16 = "not valid UTF-16"


@dataclass(frozen=True)
class SourceFile:
    """A file the source put in a batch: path as Spark names it, modification time, size."""

    path: str
    modified: datetime
    length: int


@dataclass(frozen=True)
class Piece:
    """What one task reads: bytes [start, end) of a file whose first line is `first_line`.

    `kind` None: the piece starts the file and reads its header. `whole`: read the whole file
    from its start, streaming (quotes, UTF-16, a header of no known kind).
    """

    path: str
    modified: datetime
    start: int
    end: int
    first_line: int
    kind: str | None
    whole: bool


@dataclass(frozen=True)
class Probe:
    """One range of a large file as its probe found it: where it starts and ends at lines."""

    path: str
    index: int
    start: int
    end: int
    lines: int
    quoted: bool
    utf16: bool
    kind: str | None


def in_arrival_order(files: Iterable[SourceFile]) -> list[SourceFile]:
    """Modification time, then name (code point order, which is UTF-8 byte order)."""
    return sorted(files, key=lambda entry: (entry.modified, entry.path))


@dataclass(frozen=True)
class Range:
    """A nominal byte range [start, stop) of a large file of `length` bytes, to be probed;
    `index` is its place in the file."""

    path: str
    index: int
    start: int
    stop: int
    length: int


def ranges_to_probe(
    files: Iterable[SourceFile], piece_bytes: int, *, first: int | None = None, width: int = 1
) -> list[Range]:
    """The ranges of the files larger than a piece. The first `width` ranges of a file are of
    `first` bytes, the next `width` twice that, and so on up to `piece_bytes`: a range is a
    partition of its own and a wave holds `width` partitions, so a large file's first rows
    reach the database after a small read, and its later waves read whole pieces."""
    smallest = max(1, min(first or piece_bytes, piece_bytes))
    ranges = []
    for entry in files:
        if entry.length <= piece_bytes:
            continue
        start, index = 0, 0
        while start < entry.length:
            size = min(piece_bytes, smallest << min(index // max(1, width), 32))
            ranges.append(Range(entry.path, index, start, start + size, entry.length))
            start += size
            index += 1
    return ranges


def pieces_of(
    files: Iterable[SourceFile], probes: Iterable[Probe], piece_bytes: int
) -> list[Piece]:
    """The pieces of the files, in arrival order; probes are those of the large files."""
    by_path: dict[str, list[Probe]] = {}
    for found in probes:
        by_path.setdefault(found.path, []).append(found)
    pieces: list[Piece] = []
    for entry in in_arrival_order(files):
        ranges = sorted(by_path.get(entry.path, []), key=lambda found: found.index)
        whole = Piece(entry.path, entry.modified, 0, entry.length, 1, None, True)
        if entry.length <= piece_bytes or not ranges:
            if entry.length > 0:
                pieces.append(whole)
            continue
        head = ranges[0]
        if head.utf16 or head.kind is None or any(found.quoted for found in ranges):
            pieces.append(whole)
            continue
        first_line = 1
        for found in ranges:
            if found.end > found.start:
                kind = None if found.index == 0 else head.kind
                pieces.append(
                    Piece(
                        entry.path, entry.modified, found.start, found.end, first_line, kind, False
                    )
                )
            first_line += found.lines
    return pieces


def in_groups(pieces: list[Piece], budget: int, width: int = 1) -> list[list[Piece]]:
    """The pieces in groups (one Spark partition each), in their order, of up to `budget`
    bytes. A range of a large file, or a file read whole that is larger than the budget, is a
    group of its own (a large file's first ranges are kept small, so that its first rows reach
    the database early). The other pieces, runs of whole files, are spread over groups of
    even bytes, as many as a multiple of `width` allows: a wave of `width` partitions keeps
    every reading core busy until its end, rather than one core reading a full group and the other a
    remainder."""
    groups: list[list[Piece]] = []
    run: list[Piece] = []
    for piece in pieces:
        if piece.whole and piece.end - piece.start <= budget:
            run.append(piece)
            continue
        groups += _even(run, budget, width)
        groups.append([piece])
        run = []
    return groups + _even(run, budget, width)


def _even(run: list[Piece], budget: int, width: int) -> list[list[Piece]]:
    """Consecutive pieces (each at most `budget` bytes) in the fewest groups, a multiple of
    `width` where there are pieces enough, of at most `budget` bytes and about even: each
    piece goes to the group its middle byte falls in (a group per piece at the most)."""
    if not run:
        return []
    total = max(1, sum(piece.end - piece.start for piece in run))
    count = min(len(run), -(-total // budget))
    while True:
        count = -(-count // width) * width
        if count >= len(run):
            return [[piece] for piece in run]
        groups = spread(run, count)
        if all(sum(piece.end - piece.start for piece in group) <= budget for group in groups):
            return groups
        count += 1


def spread(run: list[Piece], count: int) -> list[list[Piece]]:
    """Consecutive pieces in at most `count` groups of about even bytes, in their order: each
    piece goes to the group its middle byte falls in (groups left empty are dropped)."""
    total = max(1, sum(piece.end - piece.start for piece in run))
    groups: list[list[Piece]] = [[] for _ in range(count)]
    offset = 0
    for piece in run:
        length = piece.end - piece.start
        groups[min(count - 1, (offset + length // 2) * count // total)].append(piece)
        offset += length
    return [group for group in groups if group]


# --- on the executors ---------------------------------------------------------------------


def open_file(path: str) -> BinaryIO:
    """A file by the path Spark gives (`file:/…` locally; any scheme pyarrow knows otherwise)."""
    if path.startswith("file:"):
        local = path[len("file:") :]
        if local.startswith("//"):
            local = local[2:]
        return open(local, "rb")
    import pyarrow.fs as pafs

    filesystem, inner = pafs.FileSystem.from_uri(quote(path, safe=":/@"))
    opened: BinaryIO = filesystem.open_input_file(inner)
    return opened


_LINE_END = re.compile(rb"[\r\n]")


def _line_start(handle: BinaryIO, position: int, length: int) -> int:
    """The start of the first line that begins at or after `position` (0 stays 0); lines end
    as bytes.splitlines sees them: LF, CR LF, or a lone CR."""
    if position <= 0:
        return 0
    handle.seek(position - 1)
    offset = position - 1
    after_cr = False
    while offset < length:
        block = handle.read(1 << 16)
        if not block:
            break
        if after_cr:
            return offset + (1 if block.startswith(b"\n") else 0)
        found = _LINE_END.search(block)
        if found is None:
            offset += len(block)
            continue
        at = found.start()
        if block[at] == 0x0A:
            return offset + at + 1
        if at + 1 < len(block):
            return offset + at + (2 if block[at + 1] == 0x0A else 1)
        after_cr = True
        offset += len(block)
    return length


def _blocks(handle: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    handle.seek(start)
    left = end - start
    while left > 0:
        block = handle.read(min(_BLOCK, left))
        if not block:
            return
        left -= len(block)
        yield block


def _line_breaks(data: bytes) -> int:
    """Line ends as bytes.splitlines sees them: LF, CR LF and a lone CR."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def probe(nominal: Range) -> Probe:
    """Probe a nominal range: its real bounds at line starts, its line ends, whether it holds
    a quote; the first range also reads the header."""
    length = nominal.length
    with open_file(nominal.path) as handle:
        begin = _line_start(handle, nominal.start, length)
        end = _line_start(handle, min(nominal.stop, length), length)
        lines, quoted, previous_cr = 0, False, False
        for block in _blocks(handle, begin, end):
            lines += _line_breaks(block) - (1 if previous_cr and block.startswith(b"\n") else 0)
            previous_cr = block.endswith(b"\r")
            quoted = quoted or b'"' in block
        utf16, kind = False, None
        if nominal.start == 0:
            handle.seek(0)
            head = handle.read(min(end, 1 << 20))
            utf16 = head.startswith(UTF16_BOMS)
            kind = None if utf16 else _header_kind(head)
    return Probe(nominal.path, nominal.index, begin, end, lines, quoted, utf16, kind)


def _header_kind(head: bytes) -> str | None:
    """The kind the first non-blank line of a file without quotes announces."""
    if head.startswith(csvsplit.BOM):
        head = head[len(csvsplit.BOM) :]
    for raw in head.splitlines():
        text = raw.decode("utf-8", errors="replace")
        if text.strip():
            return csvsplit.kind_of_header(text.split(","))
    return None


def read_piece(piece: Piece) -> Iterator[pa.Table]:
    """The piece's records as SPLIT_SCHEMA tables, each of bounded size."""
    with open_file(piece.path) as handle:
        if piece.whole:
            head = handle.read(2)
            handle.seek(0)
            if head in UTF16_BOMS:
                yield from _tables(csvsplit.iter_records(_utf16_lines(handle)))
                return
            if piece.end > READ_WHOLE_UP_TO:
                lines = csvsplit.decoded_lines(_byte_lines(_blocks(handle, 0, piece.end)))
                yield from _tables(csvsplit.iter_records(_without_bom(lines)))
                return
        handle.seek(piece.start)
        data = handle.read(piece.end - piece.start)
    yield csvsplit.split_table(data, piece.kind, piece.first_line)


def _tables(records: Iterator[csvsplit.Record]) -> Iterator[pa.Table]:
    batch: list[csvsplit.Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= RECORDS_PER_TABLE:
            yield csvsplit.as_table(batch)
            batch = []
    if batch:
        yield csvsplit.as_table(batch)


def _without_bom(lines: Iterator[csvsplit.Line]) -> Iterator[csvsplit.Line]:
    first = next(lines, None)
    if first is None:
        return
    yield first._replace(text=first.text.removeprefix("\ufeff"))
    yield from lines


def _byte_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines (ends kept) of a stream of blocks; a line split across blocks is joined."""
    carry = b""
    for block in blocks:
        lines = (carry + block if carry else block).splitlines(keepends=True)
        carry = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        yield from lines
    if carry:
        yield carry


_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf16_lines(handle: BinaryIO) -> Iterator[csvsplit.Line]:
    """Numbered lines of a UTF-16 file (the byte-order mark tells the byte order)."""
    decoder = codecs.getincrementaldecoder("utf-16")(errors="surrogatepass")

    def texts() -> Iterator[str]:
        while block := handle.read(_BLOCK):
            yield decoder.decode(block)
        try:
            yield decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            yield "\udcff"  # a truncated last code unit: its line is flagged below

    carry = ""
    number = 0
    for text in texts():
        lines = _TEXT_LINE.findall(carry + text)
        carry = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        for line in lines:
            number += 1
            yield csvsplit.Line(number, line, NOT_UTF16 if _SURROGATE.search(line) else None)
    if carry:
        yield csvsplit.Line(number + 1, carry, NOT_UTF16 if _SURROGATE.search(carry) else None)
