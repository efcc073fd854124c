"""Split one dropped CSV file into records: RFC 4180 quoting, header check, encoding check.

This is the only part of parsing that runs as Python; validation of the fields is Spark SQL
(see validate.py). It works on bytes so that a file with invalid UTF-8 quarantines the
affected lines instead of failing the batch. Fields are trimmed here, with Python's notion of
whitespace (any Unicode whitespace), which is the contract's.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

EVENTS = "events"
USERS = "users"
PRODUCTS = "products"

# What a file holds is told by its header: names trimmed, any case, exactly these, in order.
HEADERS: dict[str, tuple[str, ...]] = {
    EVENTS: ("event_id", "user_id", "product_id", "event_type", "price", "event_time"),
    USERS: ("user_id", "name", "email", "city", "registered_at"),
    PRODUCTS: ("product_id", "name", "category", "list_price"),
}

BAD_HEADER = "bad_header"
MALFORMED_ROW = "malformed_row"
UNCLOSED_QUOTE = "a quote opened on this line is never closed"
NOT_UTF8 = "not valid UTF-8"
HOLDS_NUL = "a field holds a NUL character"

# Very long lines are kept in quarantine, but only up to this many characters.
MAX_RAW_CHARS = 65_536

BOM = b"\xef\xbb\xbf"

# What keeps a file off the vectorised path, besides a byte outside ASCII (Unicode whitespace,
# invalid UTF-8) and a lone CR (a line break of its own): a quote (fields may span lines) or a
# control character other than tab, CR and LF (str.strip() trims some of them).
_NOT_PLAIN = [b'"', *(bytes([code]) for code in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))]
# In a plain file the only whitespace str.strip() can meet.
_PLAIN_WHITESPACE = " \t"

# The columns of split_table, one row per data record.
SPLIT_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source_line", pa.int32(), nullable=False),
        pa.field("raw_line", pa.string(), nullable=False),
        pa.field("fields", pa.list_(pa.field("item", pa.string(), nullable=False)), nullable=False),
        pa.field("problem", pa.string()),
        pa.field("detail", pa.string()),
    ]
)

# csv's default cap (128 KiB a field) would fail the whole file on one long field; a long
# field is a validation failure of that line, not of the file.
csv.field_size_limit(2**31 - 1)


class Record(NamedTuple):
    """One CSV record of a file; `problem` is set when the record is rejected before validation."""

    kind: str
    line_no: int
    raw: str
    fields: list[str]
    problem: str | None
    detail: str | None


def _storable(text: str) -> str:
    """NUL and lone surrogates replaced by U+FFFD: no sink can store them (both sinks alike)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8").replace("?", "\ufffd")
    return text


def _truncate(raw: str) -> str:
    raw = _storable(raw)
    if len(raw) <= MAX_RAW_CHARS:
        return raw
    return raw[:MAX_RAW_CHARS] + f"...[{len(raw) - MAX_RAW_CHARS} more characters]"


def _is_blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def kind_of_header(fields: list[str]) -> str | None:
    """The kind of file a header announces, or None when it matches none of them."""
    names = tuple(name.strip().lower() for name in fields)
    return next((kind for kind, header in HEADERS.items() if names == header), None)


class Line(NamedTuple):
    """One physical line: its 1-based number, its text, and why its bytes did not decode."""

    number: int
    text: str
    bad: str | None


def decoded_lines(raw_lines: Iterable[bytes], first_line: int = 1) -> Iterator[Line]:
    """UTF-8 lines, numbered; a line that is not valid UTF-8 is kept, replaced, and flagged."""
    for number, raw in enumerate(raw_lines, first_line):
        try:
            yield Line(number, raw.decode("utf-8"), None)
        except UnicodeDecodeError:
            yield Line(number, raw.decode("utf-8", errors="replace"), NOT_UTF8)


class _Tape:
    """The lines csv.reader pulls, remembering those of the record being read; lines can be
    pushed back to be read again (after an unclosed quote)."""

    def __init__(self, lines: Iterator[Line]) -> None:
        self._source = lines
        self._pending: deque[Line] = deque()
        self.taken: list[Line] = []

    def __iter__(self) -> _Tape:
        return self

    def __next__(self) -> str:
        line = self._pending.popleft() if self._pending else next(self._source)
        self.taken.append(line)
        return line.text

    def at_end(self) -> bool:
        if self._pending:
            return False
        following = next(self._source, None)
        if following is None:
            return True
        self._pending.append(following)
        return False

    def push_back(self, lines: list[Line]) -> None:
        self._pending.extendleft(reversed(lines))


def _never_closed(texts: list[str]) -> bool:
    """Whether these lines, read as one record, end inside a quoted field."""
    try:
        for _ in csv.reader(texts, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _raw_records(lines: Iterator[Line]) -> Iterator[tuple[list[Line], list[str], str | None]]:
    """RFC 4180 records with their lines, streamed; a quote left open at the end of the file
    makes its opening line one malformed record, and reading starts again on the next line."""
    tape = _Tape(lines)
    while True:
        reader = csv.reader(tape, strict=False)
        restarted = False
        while True:
            tape.taken = []
            try:
                fields: list[str] = next(reader)
                problem = None
            except StopIteration:
                break
            except csv.Error as exc:
                fields, problem = [], str(exc)
            taken = tape.taken
            if tape.at_end() and _never_closed([line.text for line in taken]):
                yield taken[:1], [], UNCLOSED_QUOTE
                if len(taken) > 1:
                    tape.push_back(taken[1:])
                    restarted = True
                    break
                continue
            yield taken, fields, problem
        if not restarted:
            return


def iter_records(
    lines: Iterable[Line], kind: str | None = None, header_text: str | None = None
) -> Iterator[Record]:
    """Data records of numbered lines (blank lines skipped). Without `kind`, the first record
    is the header; with it, every record is data of that kind."""
    reading_header = kind is None
    for taken, fields, problem in _raw_records(iter(lines)):
        if problem is None and _is_blank(fields):
            continue
        raw = "".join(line.text for line in taken).rstrip("\r\n")
        if reading_header:
            reading_header = False
            header_text = raw
            kind = kind_of_header(fields) if problem is None else None
            if kind is None:
                kind = BAD_HEADER
            continue
        line_no = taken[0].number
        bad = next((line.bad for line in taken if line.bad), None)
        if kind is None or kind == BAD_HEADER:
            detail = _storable(f"header was: {(header_text or '')[:200]}")
            yield Record(EVENTS, line_no, _truncate(raw), [], BAD_HEADER, detail)
        elif problem is not None:
            yield Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, problem[:255])
        elif bad is not None:
            yield Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, bad)
        elif len(fields) != len(HEADERS[kind]):
            detail = f"{len(fields)} fields, expected {len(HEADERS[kind])}"
            yield Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, detail)
        elif any("\x00" in value for value in fields):
            yield Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, HOLDS_NUL)
        else:
            trimmed = [value.strip() for value in fields]
            yield Record(kind, line_no, _truncate(raw), trimmed, None, None)


def split_records(data: bytes, kind: str | None = None, first_line: int = 1) -> list[Record]:
    """Split file content (or a range of it) into its data records."""
    if first_line == 1 and data.startswith(BOM):
        data = data[len(BOM) :]
    lines = decoded_lines(data.splitlines(keepends=True), first_line)
    return list(iter_records(lines, kind))


def split_table(data: bytes, kind: str | None = None, first_line: int = 1) -> pa.Table:
    """split_records as Arrow columns (SPLIT_SCHEMA); the same records, in the same order.

    Plain files (the generator's, and most real exports: ASCII, no quotes) are split with
    Arrow compute, about 20 times faster than record by record; any other file, or a plain one
    with something to report (an unknown header, a wrong field count), takes split_records.
    `data` may be a range of a file that starts at a line: `kind` then names what the file
    holds (its header is in another range) and `first_line` is the number of its first line.
    """
    table = split_plain(data, kind, first_line)
    return as_table(split_records(data, kind, first_line)) if table is None else table


def as_table(records: Iterable[Record]) -> pa.Table:
    """Records as SPLIT_SCHEMA columns."""
    rows = list(records)
    columns = [[record[index] for record in rows] for index in range(len(SPLIT_SCHEMA))]
    return pa.Table.from_arrays(
        [pa.array(column, field.type) for column, field in zip(columns, SPLIT_SCHEMA, strict=True)],
        schema=SPLIT_SCHEMA,
    )


def split_plain(data: bytes, kind: str | None = None, first_line: int = 1) -> pa.Table | None:
    """The vectorised split of a plain file, or None when the file needs split_records."""
    if first_line == 1 and data.startswith(BOM):
        data = data[len(BOM) :]
    # One memchr per byte value: far quicker than a regular expression over the file.
    if not data.isascii() or any(byte in data for byte in _NOT_PLAIN):
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    text = data.decode("ascii").replace("\r\n", "\n")
    lines = pc.split_pattern(pa.array([text]), "\n").flatten()
    if len(lines) and pc.max(pc.binary_length(lines)).as_py() > MAX_RAW_CHARS:
        return None
    # A blank line (nothing but spaces and tabs) is one field that strips to empty.
    kept = pc.indices_nonzero(pc.not_equal(pc.utf8_trim(lines, _PLAIN_WHITESPACE), ""))
    if kind is None:
        if len(kept) == 0:
            return as_table([])
        kind = kind_of_header(lines[kept[0].as_py()].as_py().split(","))
        if kind is None:
            return None
        kept = kept[1:]
    rows = lines.take(kept)
    split = pc.split_pattern(rows, ",")
    if len(rows) and pc.any(pc.not_equal(pc.list_value_length(split), len(HEADERS[kind]))).as_py():
        return None
    values = pc.utf8_trim(split.flatten(), _PLAIN_WHITESPACE)
    count = len(rows)
    return pa.Table.from_arrays(
        [
            pa.repeat(kind, count).cast(pa.string()) if count else pa.array([], pa.string()),
            pc.add(kept, first_line).cast(pa.int32()),
            rows,
            pa.ListArray.from_arrays(split.offsets, values),
            pa.nulls(count, pa.string()),
            pa.nulls(count, pa.string()),
        ],
        schema=SPLIT_SCHEMA,
    )
