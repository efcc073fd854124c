"""The SQL of `ingest-analytics` and the one read that runs it.

The queries are the same on MySQL and PostgreSQL but for cutting a time to its hour or day
(`truncate`); each takes its LIMIT as the one parameter. Read only: the transaction is rolled
back.
"""

from __future__ import annotations

from typing import Any

from spark_app.commands.analytics_reports import (
    Report,
    Unit,
    funnel_report,
    growth_report,
    spend_per_user_report,
    top_products_report,
    unit_of,
)
from spark_app.common.database import Kind


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
        unit = unit_of(by)
        # One period more than shown: the first is the base of the second's change.
        return growth_report(_rows(cursor, growth_sql(kind, unit), (limit + 1,)), unit, limit)
    finally:
        cursor.close()
        connection.rollback()
