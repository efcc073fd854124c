"""What `ingest-analytics` shows, from the rows its queries return (pure, no database).

A Report is columns, rows (key -> value) and lines under the table. Money is rounded to the
cent and percentages to a tenth, half up; a ratio or change with nothing to compare is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

CENT = Decimal("0.01")
TENTH = Decimal("0.1")

Unit = Literal["hour", "day"]
Cell = str | int | Decimal | None


@dataclass(frozen=True)
class Column:
    """One column: its key (CSV header, JSON name), its table title, and whether a number."""

    key: str
    title: str
    numeric: bool = False


@dataclass(frozen=True)
class Report:
    """What a report shows: columns, rows (key -> value) and lines under the table."""

    columns: tuple[Column, ...]
    rows: list[dict[str, Cell]]
    footer: tuple[str, ...] = field(default=())


def unit_of(by: str) -> Unit:
    """The growth report's period for its --by value."""
    return "hour" if by == "hour" else "day"


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(CENT, ROUND_HALF_UP)


def _ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole in percent, one decimal; None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TENTH, ROUND_HALF_UP)


def _change(current: Decimal | int, previous: Decimal | int | None) -> Decimal | None:
    """The change from previous to current in percent; None without a previous value (or 0)."""
    if previous is None:
        return None
    return _ratio(Decimal(current) - Decimal(previous), previous)


def as_datetime(value: Any) -> datetime:
    """A period start as the driver gives it (datetime, date or text) as a naive datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value)).replace(tzinfo=None)


def period_label(moment: datetime, unit: Unit) -> str:
    """`2026-01-01` for a day, `2026-01-01 13:00` for an hour."""
    return moment.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m-%d %H:00")


def top_products_report(rows: Sequence[Sequence[Any]], totals: Sequence[Any], by: str) -> Report:
    """Rows (product_id, name, category, units, revenue) best first, and the purchase totals."""
    columns = (
        Column("rank", "#", True),
        Column("product_id", "product"),
        Column("name", "name"),
        Column("category", "category"),
        Column("units", "units", True),
        Column("revenue", "revenue", True),
        Column("revenue_share_pct", "share %", True),
    )
    units, products, _, revenue = int(totals[0]), int(totals[1]), int(totals[2]), _money(totals[3])
    out: list[dict[str, Cell]] = [
        {
            "rank": rank,
            "product_id": str(row[0]),
            "name": row[1],
            "category": row[2],
            "units": int(row[3]),
            "revenue": _money(row[4]),
            "revenue_share_pct": _ratio(_money(row[4]), revenue),
        }
        for rank, row in enumerate(rows, start=1)
    ]
    footer = (
        f"purchases: {units} unit(s) of {products} product(s), revenue {revenue}; ranked by {by}",
    )
    return Report(columns, out, footer)


def funnel_report(rows: Sequence[Sequence[Any]]) -> Report:
    """Rows (day, viewers, carters, buyers) in any order, as a report oldest day first."""
    columns = (
        Column("day", "day (UTC)"),
        Column("viewed", "viewed", True),
        Column("added_to_cart", "added to cart", True),
        Column("purchased", "purchased", True),
        Column("view_to_cart_pct", "view->cart %", True),
        Column("cart_to_purchase_pct", "cart->purchase %", True),
    )
    out: list[dict[str, Cell]] = []
    for row in sorted(rows, key=lambda r: as_datetime(r[0])):
        viewed, carted, bought = int(row[1]), int(row[2]), int(row[3])
        out.append(
            {
                "day": period_label(as_datetime(row[0]), "day"),
                "viewed": viewed,
                "added_to_cart": carted,
                "purchased": bought,
                "view_to_cart_pct": _ratio(carted, viewed),
                "cart_to_purchase_pct": _ratio(bought, carted),
            }
        )
    return Report(columns, out)


def spend_per_user_report(rows: Sequence[Sequence[Any]], totals: Sequence[Any]) -> Report:
    """Rows (user_id, name, city, orders, spend) best first, and the purchase totals."""
    columns = (
        Column("rank", "#", True),
        Column("user_id", "user"),
        Column("name", "name"),
        Column("city", "city"),
        Column("orders", "orders", True),
        Column("spend", "spend", True),
        Column("average_order", "avg order", True),
    )
    out: list[dict[str, Cell]] = []
    for rank, row in enumerate(rows, start=1):
        orders, spend = int(row[3]), _money(row[4])
        out.append(
            {
                "rank": rank,
                "user_id": str(row[0]),
                "name": row[1],
                "city": row[2],
                "orders": orders,
                "spend": spend,
                "average_order": _money(spend / orders) if orders else None,
            }
        )
    orders, buyers, spend = int(totals[0]), int(totals[2]), _money(totals[3])
    average = _money(spend / buyers) if buyers else Decimal("0.00")
    footer = (f"buyers: {buyers}, orders: {orders}, spend: {spend}, average per buyer: {average}",)
    return Report(columns, out, footer)


def growth_report(rows: Sequence[Sequence[Any]], unit: Unit, limit: int) -> Report:
    """The last `limit` periods from rows (start, events, revenue) of the latest limit + 1
    periods that have events, gaps filled with zeros, each with its change in percent."""
    columns = (
        Column(unit, f"{unit} (UTC)"),
        Column("events", "events", True),
        Column("events_change_pct", "events chg %", True),
        Column("revenue", "revenue", True),
        Column("revenue_change_pct", "revenue chg %", True),
    )
    if not rows:
        return Report(columns, [])
    step = timedelta(days=1) if unit == "day" else timedelta(hours=1)
    seen = {as_datetime(row[0]): (int(row[1]), _money(row[2])) for row in rows}
    latest = max(seen)
    # Rows are the latest limit + 1 periods with events, so every such period since
    # latest - limit * step is among them: the calendar from there (or the first row) is whole.
    start = max(min(seen), latest - limit * step)
    out: list[dict[str, Cell]] = []
    previous: tuple[int, Decimal] | None = None
    moment = start
    while moment <= latest:
        events, revenue = seen.get(moment, (0, Decimal("0.00")))
        out.append(
            {
                unit: period_label(moment, unit),
                "events": events,
                "events_change_pct": _change(events, previous[0] if previous else None),
                "revenue": revenue,
                "revenue_change_pct": _change(revenue, previous[1] if previous else None),
            }
        )
        previous = (events, revenue)
        moment += step
    # With limit + 1 periods the first one only served as the base of the second's change.
    return Report(columns, out[-limit:])


def empty(name: str, by: str, limit: int) -> Report:
    """The report with no data (the tables do not exist yet)."""
    if name == "top-products":
        return top_products_report([], (0, 0, 0, 0), by)
    if name == "funnel":
        return funnel_report([])
    if name == "spend-per-user":
        return spend_per_user_report([], (0, 0, 0, 0))
    return growth_report([], unit_of(by), limit)
