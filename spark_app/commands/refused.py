"""Rows the database refused (`sink_refused`), turned back into files the stream reads.

The quarantine keeps a refused row's validated values joined by commas (`raw_line`), not the
line of its file. A row splits back into its fields when its commas are exactly the
separators: which kind of row it is (events, users or products) follows from the count and
from the fields that never hold a comma (an event type, a decimal, a time). A value holding
a comma makes the stored line ambiguous; the row is then read from its source file with the
project's own splitter, when that file is still there, and otherwise left out (it stays in
the quarantine and in the dead-letter copy of the quarantine, for a person to repair).
Fields are written back with RFC 4180 quoting, so quotes and line breaks inside them survive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from spark_app.common.paths import local_path
from spark_app.parse import csvsplit, pieces

EVENTS, USERS, PRODUCTS = csvsplit.EVENTS, csvsplit.USERS, csvsplit.PRODUCTS
HEADERS = csvsplit.HEADERS
EVENT_TYPES = frozenset({"view", "add_to_cart", "remove_from_cart", "purchase"})
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


@dataclass(frozen=True)
class RefusedRow:
    """One `sink_refused` row of events_rejected, as stored."""

    id: int
    source_file: str
    source_line: int
    detail: str
    raw_line: str
    rejected_at: datetime


def _decimal(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _fits(kind: str, fields: Sequence[str]) -> bool:
    """Whether fields split at every comma have the shape of a row of this kind."""
    if len(fields) != len(HEADERS[kind]):
        return False
    if kind == EVENTS:
        return fields[3] in EVENT_TYPES and _decimal(fields[4]) and bool(_TIME.match(fields[5]))
    if kind == USERS:
        return "@" in fields[2] and bool(_TIME.match(fields[4]))
    return _decimal(fields[3])


def split_stored(raw_line: str) -> tuple[str, list[str]] | None:
    """(kind, fields) of a stored refused row, None when its commas are ambiguous."""
    fields = raw_line.split(",")
    fitting = [kind for kind in HEADERS if _fits(kind, fields)]
    return (fitting[0], fields) if len(fitting) == 1 else None


def split_from_source(
    source_file: str, source_line: int, raw_line: str
) -> tuple[str, list[str]] | None:
    """(kind, fields) of the record at `source_line` of its file, read as the stream reads it;
    None when the file is gone or the record there is not the stored row."""
    local = local_path(source_file)
    if local is None or not local.is_file():
        return None
    stat = local.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    whole = pieces.Piece(source_file, modified, 0, stat.st_size, 1, None, True)
    try:
        for table in pieces.read_piece(whole):
            for kind, line, fields, problem in zip(
                table.column("kind").to_pylist(),
                table.column("source_line").to_pylist(),
                table.column("fields").to_pylist(),
                table.column("problem").to_pylist(),
                strict=True,
            ):
                if line != source_line:
                    continue
                # The stored line starts with the row's key, as the file's record must.
                if problem is None and kind in HEADERS and raw_line.startswith(fields[0] + ","):
                    return str(kind), [str(value) for value in fields]
                return None
    except OSError:
        return None
    return None


def fields_of(row: RefusedRow) -> tuple[str, list[str]] | None:
    """(kind, fields) of a refused row: from the stored line, else from its source file."""
    return split_stored(row.raw_line) or split_from_source(
        row.source_file, row.source_line, row.raw_line
    )


def csv_line(fields: Sequence[str]) -> str:
    """One RFC 4180 record: a field holding a comma, quote or line break is quoted."""
    quoted = (
        '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value
        for value in fields
    )
    return ",".join(quoted) + "\n"


def header_line(kind: str) -> str:
    """The contract's header of a file of this kind."""
    return csv_line(HEADERS[kind])
