"""An independent, plain-Python reading of the data contract, used as the tests' oracle.

It shares no code with spark_app: the same files must give the same tables two ways.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

HEADER = ["event_id", "user_id", "product_id", "event_type", "price", "event_time"]
TYPES = {"view", "add_to_cart", "remove_from_cart", "purchase"}
TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$"
)


@dataclass(frozen=True)
class Expected:
    """What the sink must hold after ingesting some files."""

    events: dict[str, tuple[str, str, str, Decimal, datetime, str, int]]
    rejected: list[tuple[str, str, int]]  # (file name, reason, line)
    duplicates: int
    read: int


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
        value -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
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


def reason_of(fields: list[str]) -> str | None:
    """The first failing rule of the contract for a record's fields."""
    if len(fields) != 6:
        return "malformed_row"
    event_id, user_id, product_id, event_type, price, event_time = (f.strip() for f in fields)
    for value, reason in (
        (event_id, "missing_event_id"),
        (user_id, "missing_user_id"),
        (product_id, "missing_product_id"),
    ):
        if not value or len(value) > 64:
            return reason
    if event_type not in TYPES:
        return "bad_event_type"
    if _price(price) is None:
        return "bad_price"
    if _time(event_time) is None:
        return "bad_event_time"
    return None


def expected_for(files: list[Path]) -> Expected:
    """Ingest `files` in order (valid UTF-8 CSV) the way the contract says."""
    events: dict[str, tuple[str, str, str, Decimal, datetime, str, int]] = {}
    rejected: list[tuple[str, str, int]] = []
    duplicates = read = 0
    for path in files:
        text = path.read_bytes().decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        consumed = 0
        for fields in reader:
            start, consumed = consumed, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                continue
            read += 1
            line = start + 1
            reason = "bad_header" if header != HEADER else reason_of(fields)
            if reason:
                rejected.append((path.name, reason, line))
                continue
            event_id, user_id, product_id, event_type, price, event_time = (
                f.strip() for f in fields
            )
            if event_id in events:
                duplicates += 1
                continue
            events[event_id] = (
                user_id,
                product_id,
                event_type,
                _price(price),  # type: ignore[arg-type]
                _time(event_time),  # type: ignore[arg-type]
                path.name,
                line,
            )
    return Expected(events, sorted(rejected), duplicates, read)
