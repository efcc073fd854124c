"""Split one dropped CSV file into records: RFC 4180 quoting, header check, encoding check.

This is the only part of parsing that runs as Python; validation of the fields is Spark SQL
(see validate.py). It works on bytes so that a file with invalid UTF-8 quarantines the
affected lines instead of failing the batch. Fields are trimmed here, with Python's notion of
whitespace (any Unicode whitespace), which is the contract's.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
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
EXPECTED_HEADER = HEADERS[EVENTS]

BAD_HEADER = "bad_header"
MALFORMED_ROW = "malformed_row"
UNCLOSED_QUOTE = "a quote opened on this line is never closed"

# Very long lines are kept in quarantine, but only up to this many characters.
MAX_RAW_CHARS = 65_536

_BOM = b"\xef\xbb\xbf"

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


def _truncate(raw: str) -> str:
    if len(raw) <= MAX_RAW_CHARS:
        return raw
    return raw[:MAX_RAW_CHARS] + f"...[{len(raw) - MAX_RAW_CHARS} more characters]"


def _decoded_lines(lines: list[bytes], bad: set[int]) -> list[str]:
    """Decode line by line, remembering (0-based) lines that are not valid UTF-8."""
    texts: list[str] = []
    for index, line in enumerate(lines):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            bad.add(index)
            texts.append(line.decode("utf-8", errors="replace"))
    return texts


def _is_blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def kind_of_header(fields: list[str]) -> str | None:
    """The kind of file a header announces, or None when it matches none of them."""
    names = tuple(name.strip().lower() for name in fields)
    return next((kind for kind, header in HEADERS.items() if names == header), None)


def header_matches(fields: list[str]) -> bool:
    """The events header rule: the six names, trimmed and case-insensitive, in order."""
    return kind_of_header(fields) == EVENTS


def _never_closed(texts: list[str]) -> bool:
    """Whether these lines, read as one record, end inside a quoted field."""
    try:
        for _ in csv.reader(texts, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


class _Raw(NamedTuple):
    first: int  # 0-based index of the record's first line
    last: int  # 0-based index one past its last line
    fields: list[str]
    problem: str | None


def _raw_records(texts: list[str]) -> Iterator[_Raw]:
    """RFC 4180 records with their line spans; a quote left open at the end of the file makes
    its opening line one malformed record, and reading starts again on the next line."""
    start = 0
    while start < len(texts):
        reader = csv.reader(texts[start:], strict=False)
        consumed = 0
        restart = None
        while True:
            first = consumed
            try:
                fields: list[str] = next(reader)
                problem = None
            except StopIteration:
                break
            except csv.Error as exc:
                fields, problem = [], str(exc)
            consumed = reader.line_num
            at_end = start + consumed >= len(texts)
            if at_end and _never_closed(texts[start + first :]):
                yield _Raw(start + first, start + first + 1, [], UNCLOSED_QUOTE)
                restart = start + first + 1
                break
            yield _Raw(start + first, start + consumed, fields, problem)
        if restart is None:
            return
        start = restart


def split_records(data: bytes) -> list[Record]:
    """Split a whole file into its data records (blank lines skipped, header consumed)."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    lines = data.splitlines(keepends=True)
    bad_lines: set[int] = set()
    texts = _decoded_lines(lines, bad_lines)
    records: list[Record] = []
    kind: str | None = None
    header_text: str | None = None
    for raw_record in _raw_records(texts):
        first, last, fields, problem = raw_record
        if problem is None and _is_blank(fields):
            continue
        raw = "".join(texts[first:last]).rstrip("\r\n")
        if header_text is None:
            header_text = raw
            kind = kind_of_header(fields) if problem is None else None
            continue
        line_no = first + 1
        if kind is None:
            detail = f"header was: {header_text[:200]}"
            records.append(Record(EVENTS, line_no, _truncate(raw), [], BAD_HEADER, detail))
        elif problem is not None:
            detail = problem[:255]
            records.append(Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, detail))
        elif any(index in bad_lines for index in range(first, last)):
            detail = "not valid UTF-8"
            records.append(Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, detail))
        elif len(fields) != len(HEADERS[kind]):
            detail = f"{len(fields)} fields, expected {len(HEADERS[kind])}"
            records.append(Record(kind, line_no, _truncate(raw), [], MALFORMED_ROW, detail))
        else:
            trimmed = [value.strip() for value in fields]
            records.append(Record(kind, line_no, _truncate(raw), trimmed, None, None))
    return records


def split_table(data: bytes) -> pa.Table:
    """split_records as Arrow columns (SPLIT_SCHEMA); the same records, in the same order.

    Plain files (the generator's, and most real exports: ASCII, no quotes) are split with
    Arrow compute, about 20 times faster than record by record; any other file, or a plain one
    with something to report (an unknown header, a wrong field count), takes split_records.
    """
    table = split_plain(data)
    return _as_table(split_records(data)) if table is None else table


def _as_table(records: list[Record]) -> pa.Table:
    columns = [[record[index] for record in records] for index in range(len(SPLIT_SCHEMA))]
    return pa.Table.from_arrays(
        [pa.array(column, field.type) for column, field in zip(columns, SPLIT_SCHEMA, strict=True)],
        schema=SPLIT_SCHEMA,
    )


def split_plain(data: bytes) -> pa.Table | None:
    """The vectorised split of a plain file, or None when the file needs split_records."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
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
    if len(kept) == 0:
        return _as_table([])
    header = lines[kept[0].as_py()].as_py().split(",")
    kind = kind_of_header(header)
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
            pc.add(kept, 1).cast(pa.int32()),
            rows,
            pa.ListArray.from_arrays(split.offsets, values),
            pa.nulls(count, pa.string()),
            pa.nulls(count, pa.string()),
        ],
        schema=SPLIT_SCHEMA,
    )
