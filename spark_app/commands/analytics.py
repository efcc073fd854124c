"""`ingest-analytics REPORT`: business figures from the sink, as a table, CSV or JSON.

Reports (times are UTC; revenue is the sum of purchase prices):

- `top-products`: purchases per product, units and revenue, ranked by revenue (or
  `--by units`); name and category from `products` when the product's row is real.
- `funnel`: per UTC day, the distinct users who viewed, added to the cart and purchased, and
  the conversions view -> cart and cart -> purchase in percent. Counted from `events`
  (COUNT(DISTINCT user_id) per event_type and day): events_per_minute has no users.
- `spend-per-user`: the top users by purchase spend, with orders, average order and name and
  city from `users` when real; the table ends with the totals (buyers, orders, spend,
  average per buyer).
- `growth`: events and revenue per hour or day (`--by hour|day`), with the change against the
  previous period in percent; read from events_per_minute, so cheap on any volume. Periods
  without events between two that have some are shown with zeros.

`--limit N` (default 10): the top N products or users, or the last N days or periods.
`--format table` (aligned, numbers to the right, the default), `csv` or `json` (a list of
objects, decimals as strings); csv and json hold the rows only, not the totals line.
Exit codes: 0 done, 2 bad usage or a missing database setting, 3 the database unreachable or
failing. Before the stream has created its tables the report is empty.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from spark_app.common.database import Kind, SettingsError, connect, sink_from_env
from spark_app.common.errors import database_errors, is_missing_table, summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_OK, EXIT_USAGE
from spark_app.common.numbers import positive_int

DEFAULT_LIMIT = 10
FORMATS = ("table", "csv", "json")
REPORTS = ("top-products", "funnel", "spend-per-user", "growth")
# --by: what each report accepts, the first being its default; the others take none.
BY_CHOICES: dict[str, tuple[str, ...]] = {
    "top-products": ("revenue", "units"),
    "growth": ("day", "hour"),
}
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


# --- SQL --------------------------------------------------------------------------------------


def truncate(kind: Kind, unit: Unit, column: str) -> str:
    """SQL for `column` cut to the start of its UTC hour or day, on this kind of database."""
    if kind == "postgresql":
        return f"date_trunc('{unit}', {column})"
    if unit == "day":
        return f"DATE({column})"
    # No DATE_FORMAT: its % signs would clash with the driver's %s placeholders.
    return f"DATE_ADD(DATE({column}), INTERVAL HOUR({column}) HOUR)"


def top_products_sql(by: str) -> str:
    """Purchases per product, best first by revenue or units; LIMIT is the one parameter."""
    order = "revenue DESC, units DESC" if by == "revenue" else "units DESC, revenue DESC"
    return (
        "SELECT e.product_id,"
        " CASE WHEN p.is_placeholder = FALSE THEN p.name END,"
        " CASE WHEN p.is_placeholder = FALSE THEN p.category END,"
        " COUNT(*) AS units, SUM(e.price) AS revenue"
        " FROM events e LEFT JOIN products p ON p.product_id = e.product_id"
        " WHERE e.event_type = 'purchase'"
        " GROUP BY e.product_id, p.is_placeholder, p.name, p.category"
        f" ORDER BY {order}, e.product_id LIMIT %s"
    )


PURCHASE_TOTALS_SQL = (
    "SELECT COUNT(*), COUNT(DISTINCT product_id), COUNT(DISTINCT user_id),"
    " COALESCE(SUM(price), 0) FROM events WHERE event_type = 'purchase'"
)


def funnel_sql(kind: Kind) -> str:
    """Distinct users per step and UTC day, the latest days first; LIMIT is the parameter."""
    day = truncate(kind, "day", "event_time")
    return (
        f"SELECT {day} AS bucket,"
        " COUNT(DISTINCT CASE WHEN event_type = 'view' THEN user_id END),"
        " COUNT(DISTINCT CASE WHEN event_type = 'add_to_cart' THEN user_id END),"
        " COUNT(DISTINCT CASE WHEN event_type = 'purchase' THEN user_id END)"
        " FROM events GROUP BY bucket ORDER BY bucket DESC LIMIT %s"
    )


SPEND_PER_USER_SQL = (
    "SELECT e.user_id,"
    " CASE WHEN u.is_placeholder = FALSE THEN u.name END,"
    " CASE WHEN u.is_placeholder = FALSE THEN u.city END,"
    " COUNT(*) AS orders, SUM(e.price) AS spend"
    " FROM events e LEFT JOIN users u ON u.user_id = e.user_id"
    " WHERE e.event_type = 'purchase'"
    " GROUP BY e.user_id, u.is_placeholder, u.name, u.city"
    " ORDER BY spend DESC, orders DESC, e.user_id LIMIT %s"
)


def growth_sql(kind: Kind, unit: Unit) -> str:
    """Events and revenue per period from events_per_minute, the latest first; LIMIT param."""
    bucket = truncate(kind, unit, "minute_start")
    return (
        f"SELECT {bucket} AS bucket, SUM(events),"
        " SUM(CASE WHEN event_type = 'purchase' THEN price_total ELSE 0 END)"
        " FROM events_per_minute GROUP BY bucket ORDER BY bucket DESC LIMIT %s"
    )


# --- rows to reports (pure) -------------------------------------------------------------------


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


# --- formatting (pure) ------------------------------------------------------------------------


def _text(value: Cell) -> str:
    return "-" if value is None else str(value)


def format_table(report: Report) -> str:
    """Aligned text: header, a rule, the rows (numbers to the right), then the footer."""
    header = [column.title for column in report.columns]
    body = [[_text(row.get(column.key)) for column in report.columns] for row in report.rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fit(cells: list[str]) -> str:
        pairs = zip(cells, widths, report.columns, strict=True)
        return "  ".join(c.rjust(w) if col.numeric else c.ljust(w) for c, w, col in pairs)

    lines = [fit(header).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [fit(cells).rstrip() for cells in body] or ["(no rows)"]
    if report.footer:
        lines += ["", *report.footer]
    return "\n".join(lines)


def format_csv(report: Report) -> str:
    """CSV with a header of column keys; an empty field for a missing value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.key for column in report.columns])
    for row in report.rows:
        writer.writerow(["" if row.get(c.key) is None else row.get(c.key) for c in report.columns])
    return buffer.getvalue().rstrip("\n")


def _json_value(value: Cell) -> str | int | None:
    return str(value) if isinstance(value, Decimal) else value


def format_json(report: Report) -> str:
    """A JSON list of objects keyed by column key; decimals as strings."""
    objects = [{c.key: _json_value(row.get(c.key)) for c in report.columns} for row in report.rows]
    return json.dumps(objects, indent=2, ensure_ascii=False)


FORMATTERS: dict[str, Callable[[Report], str]] = {
    "table": format_table,
    "csv": format_csv,
    "json": format_json,
}


# --- database ---------------------------------------------------------------------------------


def _rows(cursor: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if params:
        cursor.execute(sql, params)
    else:
        cursor.execute(sql)
    return list(cursor.fetchall())


def fetch(connection: Any, kind: Kind, name: str, by: str, limit: int) -> Report:
    """Run one report's queries on an open connection (read only: rolled back)."""
    cursor = connection.cursor()
    try:
        if name == "top-products":
            rows = _rows(cursor, top_products_sql(by), (limit,))
            return top_products_report(rows, _rows(cursor, PURCHASE_TOTALS_SQL)[0], by)
        if name == "funnel":
            return funnel_report(_rows(cursor, funnel_sql(kind), (limit,)))
        if name == "spend-per-user":
            rows = _rows(cursor, SPEND_PER_USER_SQL, (limit,))
            return spend_per_user_report(rows, _rows(cursor, PURCHASE_TOTALS_SQL)[0])
        unit: Unit = "hour" if by == "hour" else "day"
        return growth_report(_rows(cursor, growth_sql(kind, unit), (limit + 1,)), unit, limit)
    finally:
        cursor.close()
        connection.rollback()


def empty(name: str, by: str) -> Report:
    """The report with no data (the tables do not exist yet)."""
    if name == "top-products":
        return top_products_report([], (0, 0, 0, 0), by)
    if name == "funnel":
        return funnel_report([])
    if name == "spend-per-user":
        return spend_per_user_report([], (0, 0, 0, 0))
    return growth_report([], "hour" if by == "hour" else "day", DEFAULT_LIMIT)


# --- command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="ingest-analytics",
        description="Business figures from the sink (MYSQL_* or PG* settings); times in UTC.",
        epilog="Exit codes: 0 done, 2 usage or settings, 3 the database.",
    )
    parser.add_argument("report", choices=REPORTS, help="which report")
    parser.add_argument("--format", choices=FORMATS, default="table", help="default table")
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help="top N products or users, or the last N days or periods (default 10)",
    )
    parser.add_argument(
        "--by",
        default=None,
        metavar="{revenue,units,hour,day}",
        help="top-products: revenue (default) or units; growth: hour or day (default day)",
    )
    return parser


def choose_by(parser: argparse.ArgumentParser, report: str, by: str | None) -> str:
    """The report's --by value, its default when not given; a usage error when not allowed."""
    choices = BY_CHOICES.get(report, ())
    if by is None:
        return choices[0] if choices else ""
    if not choices:
        parser.error(f"--by does not apply to {report}")
    if by not in choices:
        parser.error(f"--by for {report} must be one of {', '.join(choices)}, got {by!r}")
    return by


def main(argv: Sequence[str] | None = None) -> int:
    """Print one report; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    by = choose_by(parser, args.report, args.by)
    try:
        settings = sink_from_env(os.environ)
    except SettingsError as exc:
        print(f"analytics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with connect(settings) as handle:
            report = fetch(handle, settings.kind, args.report, by, args.limit)
    except database_errors() as exc:
        if not is_missing_table(exc):
            print(
                f"analytics: cannot use {settings.label} at {settings.address}: {summarize(exc)}",
                file=sys.stderr,
            )
            return EXIT_DATABASE
        print(f"analytics: no data yet ({summarize(exc)})", file=sys.stderr)
        report = empty(args.report, by)
    print(FORMATTERS[args.format](report))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
