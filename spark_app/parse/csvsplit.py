"""Split one dropped CSV file into records: RFC 4180 quoting, header check, encoding check.

This is the only part of parsing that runs as Python; validation of the fields is Spark SQL
(see transforms.py). It works on bytes so that a file with invalid UTF-8 quarantines the
affected lines instead of failing the batch.
"""

from __future__ import annotations

import csv
from typing import NamedTuple

EXPECTED_HEADER = ("event_id", "user_id", "product_id", "event_type", "price", "event_time")

BAD_HEADER = "bad_header"
MALFORMED_ROW = "malformed_row"

# Very long lines are kept in quarantine, but only up to this many characters.
MAX_RAW_CHARS = 65_536

_BOM = b"\xef\xbb\xbf"

# csv's default cap (128 KiB a field) would fail the whole file on one long field; a long
# field is a validation failure of that line, not of the file.
csv.field_size_limit(2**31 - 1)


class Record(NamedTuple):
    """One CSV record of a file; `problem` is set when the record is rejected before validation."""

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


def header_matches(fields: list[str]) -> bool:
    """The contract's header rule: the six names, trimmed and case-insensitive, in order."""
    return tuple(name.strip().lower() for name in fields) == EXPECTED_HEADER


def split_records(data: bytes) -> list[Record]:
    """Split a whole file into its data records (blank lines skipped, header consumed)."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    lines = data.splitlines(keepends=True)
    bad_lines: set[int] = set()
    texts = _decoded_lines(lines, bad_lines)
    reader = csv.reader(texts, strict=False)
    records: list[Record] = []
    header_seen = False
    header_ok = True
    consumed = 0
    while True:
        first = consumed
        try:
            fields = next(reader)
            problem = None
        except StopIteration:
            break
        except csv.Error as exc:
            fields, problem = [], f"{exc}"
        consumed = reader.line_num
        if problem is None and _is_blank(fields):
            continue
        raw = "".join(texts[first:consumed]).rstrip("\r\n")
        if not header_seen:
            header_seen = True
            header_ok = problem is None and header_matches(fields)
            header_text = raw
            continue
        line_no = first + 1
        if not header_ok:
            detail = f"header was: {header_text[:200]}"
            records.append(Record(line_no, _truncate(raw), fields, BAD_HEADER, detail))
        elif problem is not None:
            records.append(Record(line_no, _truncate(raw), fields, MALFORMED_ROW, problem[:255]))
        elif any(index in bad_lines for index in range(first, consumed)):
            detail = "not valid UTF-8"
            records.append(Record(line_no, _truncate(raw), fields, MALFORMED_ROW, detail))
        else:
            records.append(Record(line_no, _truncate(raw), fields, None, None))
    return records
