"""Sample figures the dashboard tests build snapshots from, in both tiers (the page's unit tests
and the HTTP server's in tests/integration/test_dashboard_http.py). Pure: no server, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from spark_app.commands.dashboard.snapshot import Fetched

NOW = datetime(2025, 3, 1, 12, 30, 15)


def batch(
    seconds_ago: float, read: int, rejected: int = 0, age: float | None = 2.0
) -> tuple[Any, ...]:
    """A row of BATCHES_SQL: committed `seconds_ago` before NOW."""
    return (
        NOW - timedelta(seconds=seconds_ago),
        read,
        read - rejected,
        rejected,
        Decimal("250.5"),
        None if age is None else Decimal(str(age)),
        None if age is None else Decimal(str(age / 2)),
        120,
        30,
        160,
        0,
        1,
    )


def fetched(**parts: Any) -> Fetched:
    """Every table present with a little data; `parts` replaces some."""
    base: dict[str, Any] = {
        "totals": (3, Decimal(3), Decimal(63), Decimal(57), Decimal(2), Decimal(4), Decimal(1)),
        "batches": [batch(5, 21, 1, 3.0), batch(25, 21, 3, 1.0), batch(45, 21, 0, None)],
        "last_minute": (3, Decimal(63)),
        "reject_reasons": [("bad_price", 1), ("missing_user_id", 3)],
        "latest_rejects": [],
        "runs": [],
        "minutes": [],
        "type_totals": [],
        "last_run": ("20250301_120000", "running", NOW - timedelta(seconds=10)),
    }
    base.update(parts)
    return Fetched(**base)
