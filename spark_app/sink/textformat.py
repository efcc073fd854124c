"""Arrow columns -> the tab-separated text that LOAD DATA and COPY read, built in Arrow's C++.

MySQL's `LOAD DATA` (default escapes) and PostgreSQL's `COPY ... FROM STDIN` (text format) read
the same format: one line per row, fields separated by a tab, NULL written `\\N`, and a
backslash, tab, newline or carriage return inside a value escaped with a backslash. Building it
with Arrow's compute kernels instead of a Python loop over the rows keeps the driver's cost per
row in the microseconds' tenths: this file is the hot path of every batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

NULL = "\\N"
# Replaced in this order: the backslash first, so the escapes added after it stay single.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_NEEDS_ESCAPE = r"[\\\t\n\r]"


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as escaped text, NULL as `\\N`; timestamps (UTC) as `YYYY-MM-DD HH:MM:SS.ffffff`."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        # Dropping the zone keeps the stored instant, which is UTC: what the columns hold.
        text = column.cast(pa.timestamp("us")).cast(pa.string())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = column.cast(pa.string())
        if pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
            for plain, escaped in _ESCAPES:
                text = pc.replace_substring(text, plain, escaped)
    else:
        text = column.cast(pa.string())
    return text.fill_null(NULL)


def encode(table: pa.Table, columns: Sequence[str], constants: Sequence[str] = ()) -> bytes:
    """The named columns of every row, then `constants` (already text), one line per row."""
    if table.num_rows == 0:
        return b""
    fields: list[pa.ChunkedArray | pa.Scalar] = [_as_text(table.column(name)) for name in columns]
    fields += [pa.scalar(_escaped(value)) for value in constants]
    # The last "field" is empty, so each line ends with its newline: a\tb + \n + "".
    lines = pc.binary_join_element_wise(
        pc.binary_join_element_wise(*fields, "\t"), pa.scalar(""), "\n"
    )
    return b"".join(_data(chunk) for chunk in lines.chunks)


def chunks(data: bytes, size: int = 1 << 20) -> Iterator[memoryview]:
    """`data` in pieces of `size` bytes, without copying."""
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _escaped(value: str) -> str:
    for plain, escaped in _ESCAPES:
        value = value.replace(plain, escaped)
    return value


def _data(chunk: pa.Array) -> memoryview:
    """The bytes of a string array's values, end to end (the array has no nulls)."""
    if len(chunk) == 0:
        return memoryview(b"")
    _, offsets, values = chunk.buffers()
    positions = memoryview(offsets).cast("i")
    return memoryview(values)[positions[chunk.offset] : positions[chunk.offset + len(chunk)]]
