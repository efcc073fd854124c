"""An independent, plain-Python reading of the data contract: the tests' oracle.

It shares no code with spark_app and not its CSV reader either: its own character-level
RFC 4180 reading, the rules in their order, arrival order (modification time, then name,
then line), first-wins events, latest-wins users and products, placeholders, per-minute totals.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

HEADERS = {
    "events": ["event_id", "user_id", "product_id", "event_type", "price", "event_time"],
    "users": ["user_id", "name", "email", "city", "registered_at"],
    "products": ["product_id", "name", "category", "list_price"],
}
TYPES = {"view", "add_to_cart", "remove_from_cart", "purchase"}
TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"
)


@dataclass
class Expected:
    """What the sink must hold after ingesting some files."""

    # event_id -> (user, product, type, price, time, file name, line)
    events: dict[str, tuple[str, str, str, Decimal, datetime, str, int]] = field(
        default_factory=dict
    )
    rejected: list[tuple[str, str, int]] = field(default_factory=list)  # (file, reason, line)
    duplicates: int = 0
    read: int = 0
    # user_id -> (name, email, city, registered_at) or None for a placeholder
    users: dict[str, tuple[str, str, str, datetime] | None] = field(default_factory=dict)
    products: dict[str, tuple[str, str, Decimal] | None] = field(default_factory=dict)
    files: int = 0

    def per_minute(self) -> dict[tuple[datetime, str], tuple[int, Decimal]]:
        """events grouped by UTC minute of event_time and type: (count, price total)."""
        totals: dict[tuple[datetime, str], tuple[int, Decimal]] = {}
        for _, _, kind, price, time, _, _ in self.events.values():
            key = (time.replace(second=0, microsecond=0), kind)
            count, total = totals.get(key, (0, Decimal("0.00")))
            totals[key] = (count + 1, total + price)
        return totals


def _lines(data: bytes) -> list[tuple[str, bool]]:
    """Physical lines (\\n, \\r\\n or \\r end one) with their ends, and whether each is UTF-8."""
    out: list[tuple[str, bool]] = []
    start = 0
    i = 0
    while i < len(data):
        if data[i : i + 1] in (b"\n", b"\r"):
            end = i + 2 if data[i : i + 2] == b"\r\n" else i + 1
            out.append(_decode(data[start:end]))
            start = i = end
            continue
        i += 1
    if start < len(data):
        out.append(_decode(data[start:]))
    return out


def _decode(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _records(lines: list[str]) -> Iterator[tuple[int, int, list[str] | None]]:
    """(first line index, lines used, fields) per record; fields None: a quote never closed."""
    index = 0
    while index < len(lines):
        fields: list[str] = []
        current: list[str] = []
        quoted = False
        after_quote = False
        line = index
        position = 0
        text = lines[line]
        done = False
        while not done:
            if position >= len(text):
                if quoted:
                    line += 1
                    if line >= len(lines):
                        break
                    text, position = lines[line], 0
                    continue
                done = True
                break
            char = text[position]
            if quoted:
                if char == '"':
                    if text[position + 1 : position + 2] == '"':
                        current.append('"')
                        position += 2
                        continue
                    quoted, after_quote = False, True
                else:
                    current.append(char)
                position += 1
                continue
            if char in "\r\n":
                done = True
                break
            if char == ",":
                fields.append("".join(current))
                current, after_quote = [], False
            elif char == '"' and not current and not after_quote:
                quoted = True
            else:
                current.append(char)
            position += 1
        if quoted:
            yield index, 1, None
            index += 1
            continue
        fields.append("".join(current))
        yield index, line - index + 1, fields
        index = line + 1


def _time(text: str) -> datetime | None:
    match = TIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    try:
        value = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if fraction:
        value += timedelta(microseconds=int((fraction[1:] + "000000")[:6]))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        try:
            value -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        except OverflowError:  # past year 9999 once in UTC
            return None
    return value if 1000 <= value.year <= 9999 else None


def _price(text: str) -> Decimal | None:
    if not re.match(r"^[+-]?(\d+(\.\d*)?|\.\d+)$", text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if value < 0:
        return None
    rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return rounded if rounded < Decimal("100000000") else None


def _bad_id(value: str) -> bool:
    return not value or len(value) > 64


def _bad_text(value: str, may_be_empty: bool = False) -> bool:
    return len(value) > 255 or (not value and not may_be_empty)


def reason_of(kind: str, fields: list[str]) -> str | None:
    """The first failing rule for a record's (trimmed) fields."""
    if len(fields) != len(HEADERS[kind]):
        return "malformed_row"
    if kind == "events":
        event_id, user_id, product_id, event_type, price, event_time = fields
        checks = [
            (_bad_id(event_id), "missing_event_id"),
            (_bad_id(user_id), "missing_user_id"),
            (_bad_id(product_id), "missing_product_id"),
            (event_type not in TYPES, "bad_event_type"),
            (_price(price) is None, "bad_price"),
            (_time(event_time) is None, "bad_event_time"),
        ]
    elif kind == "users":
        user_id, name, email, city, registered_at = fields
        checks = [
            (_bad_id(user_id), "missing_user_id"),
            (_bad_text(name), "bad_name"),
            (not re.match(r"^[^@\s]+@[^@\s]+$", email) or _bad_text(email), "bad_email"),
            (_bad_text(city, may_be_empty=True), "bad_city"),
            (_time(registered_at) is None, "bad_registered_at"),
        ]
    else:
        product_id, name, category, list_price = fields
        checks = [
            (_bad_id(product_id), "missing_product_id"),
            (_bad_text(name), "bad_name"),
            (_bad_text(category), "bad_category"),
            (_price(list_price) is None, "bad_list_price"),
        ]
    return next((reason for failed, reason in checks if failed), None)


def arrival_order(files: list[Path]) -> list[Path]:
    """Files by modification time (milliseconds, as the file source sees it), then path."""
    return sorted(files, key=lambda p: (os.stat(p).st_mtime_ns // 1_000_000, str(p)))


def _accept(expected: Expected, kind: str, fields: list[str], name: str, line: int) -> None:
    if kind == "events":
        event_id, user_id, product_id, event_type, price, event_time = fields
        if event_id in expected.events:
            expected.duplicates += 1
            return
        expected.events[event_id] = (
            user_id, product_id, event_type, _price(price), _time(event_time), name, line,
        )  # type: ignore[assignment]  # fmt: skip
        expected.users.setdefault(user_id, None)
        expected.products.setdefault(product_id, None)
    elif kind == "users":
        user_id, user_name, email, city, registered_at = fields
        expected.users[user_id] = (user_name, email, city, _time(registered_at))  # type: ignore[assignment]
    else:
        product_id, product_name, category, list_price = fields
        expected.products[product_id] = (product_name, category, _price(list_price))  # type: ignore[assignment]


def _utf16_lines(data: bytes) -> list[tuple[str, bool]]:
    """A UTF-16 file's lines; one holding a lone surrogate is not valid."""
    text = data.decode("utf-16", errors="surrogatepass")
    found = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+", text)
    return [(line, not re.search("[\ud800-\udfff]", line)) for line in found]


def read_file(expected: Expected, path: Path) -> None:
    """Add one file's lines to `expected` (files must come in arrival order)."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    decoded = _utf16_lines(data) if utf16 else _lines(data)
    texts = [text for text, _ in decoded]
    kind: str | None = None
    header_seen = False
    expected.files += 1
    for first, used, fields in _records(texts):
        line_no = first + 1
        if fields is not None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            continue
        if not header_seen:
            header_seen = True
            names = [f.strip().lower() for f in fields] if fields is not None else []
            kind = next((k for k, header in HEADERS.items() if names == header), None)
            continue
        expected.read += 1
        if kind is None:
            expected.rejected.append((path.name, "bad_header", line_no))
            continue
        decodes = all(ok for _, ok in decoded[first : first + used])
        if fields is None or not decodes or any("\x00" in value for value in fields):
            expected.rejected.append((path.name, "malformed_row", line_no))
            continue
        trimmed = [value.strip() for value in fields]
        reason = reason_of(kind, trimmed)
        if reason:
            expected.rejected.append((path.name, reason, line_no))
            continue
        _accept(expected, kind, trimmed, path.name, line_no)


def expected_for(files: list[Path]) -> Expected:
    """Ingest `files` the way the contract says, in arrival order."""
    expected = Expected()
    for path in arrival_order(files):
        read_file(expected, path)
    expected.rejected.sort()
    return expected
