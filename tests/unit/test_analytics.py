"""ingest-analytics without a database: SQL per dialect (analytics_queries), rows to reports
(analytics_reports), the three formats (analytics_render), flags and exit codes (analytics)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import mysql.connector
import pytest

from spark_app.commands import analytics
from spark_app.commands.analytics_queries import (
    PURCHASE_TOTALS_SQL,
    SPEND_PER_USER_SQL,
    funnel_sql,
    growth_sql,
    top_products_sql,
    truncate,
)
from spark_app.commands.analytics_render import format_csv, format_json, format_table
from spark_app.commands.analytics_reports import (
    Cell,
    Column,
    Report,
    empty,
    funnel_report,
    growth_report,
    spend_per_user_report,
    top_products_report,
)

MYSQL_ENV = {"MYSQL_DATABASE": "shop", "MYSQL_USER": "reader", "MYSQL_PASSWORD": "secret"}


# --- SQL ----------------------------------------------------------------------------------------


def test_truncation_is_chosen_by_the_kind_of_database() -> None:
    assert truncate("postgresql", "day", "event_time") == "date_trunc('day', event_time)"
    assert truncate("postgresql", "hour", "m") == "date_trunc('hour', m)"
    assert truncate("mysql", "day", "event_time") == "DATE(event_time)"
    hour = truncate("mysql", "hour", "m")
    assert hour == "DATE_ADD(DATE(m), INTERVAL HOUR(m) HOUR)"
    # A % in the SQL would be taken for a placeholder by mysql-connector.
    assert "%" not in hour


def test_queries_are_portable_apart_from_truncation() -> None:
    sqls = [
        top_products_sql("revenue"),
        top_products_sql("units"),
        SPEND_PER_USER_SQL,
        PURCHASE_TOTALS_SQL,
        funnel_sql("mysql"),
        growth_sql("mysql", "hour"),
    ]
    for sql in sqls:
        assert "date_trunc" not in sql and "DATE_FORMAT" not in sql and "`" not in sql
        assert sql.count("%s") <= 1
    assert "date_trunc('day', event_time)" in funnel_sql("postgresql")
    assert "FROM events_per_minute" in growth_sql("postgresql", "day")


def test_top_products_order_follows_by() -> None:
    assert "ORDER BY revenue DESC, units DESC, e.product_id" in top_products_sql("revenue")
    assert "ORDER BY units DESC, revenue DESC, e.product_id" in top_products_sql("units")


# --- rows to reports ----------------------------------------------------------------------------


def test_top_products_rank_and_share_of_revenue() -> None:
    rows = [
        ("P2", "Pro Kettle", "Home & Kitchen", 3, Decimal("30.00")),
        ("P1", None, None, 1, Decimal("10.00")),
    ]
    report = top_products_report(rows, (5, 3, 4, Decimal("50.00")), "revenue")
    assert report.rows[0] == {
        "rank": 1,
        "product_id": "P2",
        "name": "Pro Kettle",
        "category": "Home & Kitchen",
        "units": 3,
        "revenue": Decimal("30.00"),
        "revenue_share_pct": Decimal("60.0"),
    }
    assert (report.rows[1]["rank"], report.rows[1]["name"]) == (2, None)
    assert report.footer == (
        "purchases: 5 unit(s) of 3 product(s), revenue 50.00; ranked by revenue",
    )


def test_funnel_oldest_day_first_with_conversions() -> None:
    rows = [
        (datetime(2026, 1, 2), 10, 4, 1),
        (date(2026, 1, 1), 3, 0, 0),
    ]
    report = funnel_report(rows)
    assert report.rows == [
        {
            "day": "2026-01-01",
            "viewed": 3,
            "added_to_cart": 0,
            "purchased": 0,
            "view_to_cart_pct": Decimal("0.0"),
            "cart_to_purchase_pct": None,
        },
        {
            "day": "2026-01-02",
            "viewed": 10,
            "added_to_cart": 4,
            "purchased": 1,
            "view_to_cart_pct": Decimal("40.0"),
            "cart_to_purchase_pct": Decimal("25.0"),
        },
    ]


def test_spend_per_user_average_order_and_totals() -> None:
    rows = [("U1", "Ann Lee", "Rome", 3, Decimal("100.00")), ("U2", None, None, 1, Decimal("5"))]
    report = spend_per_user_report(rows, (4, 2, 2, Decimal("105.00")))
    assert report.rows[0]["average_order"] == Decimal("33.33")
    assert report.rows[1]["spend"] == Decimal("5.00")
    assert report.footer == ("buyers: 2, orders: 4, spend: 105.00, average per buyer: 52.50",)
    assert spend_per_user_report([], (0, 0, 0, 0)).footer == (
        "buyers: 0, orders: 0, spend: 0.00, average per buyer: 0.00",
    )


def test_growth_fills_gaps_and_compares_with_the_previous_period() -> None:
    rows = [  # the latest periods first, as the query returns them
        (datetime(2026, 1, 1, 3), Decimal(30), Decimal("15.00")),
        ("2026-01-01 00:00:00", 10, Decimal("0")),
        (datetime(2026, 1, 1, 1), 20, Decimal("10.00")),
    ]
    report = growth_report(rows, "hour", 10)
    assert [(r["hour"], r["events"], r["events_change_pct"]) for r in report.rows] == [
        ("2026-01-01 00:00", 10, None),
        ("2026-01-01 01:00", 20, Decimal("100.0")),
        ("2026-01-01 02:00", 0, Decimal("-100.0")),
        ("2026-01-01 03:00", 30, None),  # nothing the hour before: no change to speak of
    ]
    assert [r["revenue_change_pct"] for r in report.rows] == [None, None, Decimal("-100.0"), None]


def test_growth_keeps_the_last_periods_and_the_base_of_the_first() -> None:
    rows = [(date(2026, 1, d), d, Decimal(d)) for d in (5, 4, 3)]
    report = growth_report(rows, "day", 2)
    assert [(r["day"], r["events"], r["events_change_pct"]) for r in report.rows] == [
        ("2026-01-04", 4, Decimal("33.3")),
        ("2026-01-05", 5, Decimal("25.0")),
    ]
    # A gap wider than the window: zeros before the latest period, no change against zero.
    far = growth_report([(date(2026, 1, 9), 1, 1), (date(2026, 1, 1), 1, 1)], "day", 2)
    assert [(r["day"], r["events"]) for r in far.rows] == [("2026-01-08", 0), ("2026-01-09", 1)]
    assert growth_report([], "day", 2).rows == []


def test_an_empty_report_keeps_its_columns_and_totals_line() -> None:
    assert [empty(name, "", 10).rows for name in analytics.REPORTS] == [[], [], [], []]
    assert empty("top-products", "units", 10).footer == (
        "purchases: 0 unit(s) of 0 product(s), revenue 0.00; ranked by units",
    )
    assert empty("growth", "hour", 10).columns[0] == Column("hour", "hour (UTC)")
    assert empty("growth", "day", 10).columns[0] == Column("day", "day (UTC)")


# --- formatting ---------------------------------------------------------------------------------


def _sample() -> Report:
    columns = (Column("name", "name"), Column("units", "units", True), Column("v", "value", True))
    rows: list[dict[str, Cell]] = [
        {"name": "Kettle, big", "units": 12, "v": Decimal("1234.50")},
        {"name": None, "units": 3, "v": None},
    ]
    return Report(columns, rows, ("total: 15",))


def test_table_aligns_text_left_and_numbers_right() -> None:
    assert format_table(_sample()).splitlines() == [
        "name         units    value",
        "-----------  -----  -------",
        "Kettle, big     12  1234.50",
        "-                3        -",
        "",
        "total: 15",
    ]


def test_an_empty_table_says_so() -> None:
    text = format_table(Report(_sample().columns, []))
    assert text.splitlines()[2] == "(no rows)"


def test_csv_quotes_and_leaves_missing_values_empty() -> None:
    text = format_csv(_sample())
    assert text.splitlines()[0] == "name,units,v"
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["Kettle, big", "12", "1234.50"],
        ["", "3", ""],
    ]
    assert "total" not in text


def test_json_is_a_list_of_objects_with_decimals_as_strings() -> None:
    assert json.loads(format_json(_sample())) == [
        {"name": "Kettle, big", "units": 12, "v": "1234.50"},
        {"name": None, "units": 3, "v": None},
    ]
    assert json.loads(format_json(Report(_sample().columns, []))) == []


# --- main ---------------------------------------------------------------------------------------


class FakeCursor:
    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.log.append((sql, params))
        if "COUNT(DISTINCT product_id)" in sql:
            self.rows = [(2, 1, 1, Decimal("20.00"))]
        elif "FROM events_per_minute" in sql:
            self.rows = [(datetime(2026, 1, 2), Decimal(8), Decimal("20.00"))]
        else:
            self.rows = [("P1", "Eco Red Kite", "Toys", 2, Decimal("20.00"))]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.rollbacks = 0

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log)

    def rollback(self) -> None:
        self.rollbacks += 1


@pytest.fixture
def fake_db(monkeypatch: pytest.MonkeyPatch) -> list[FakeConnection]:
    for key in ("INGEST_SINK", "PGDATABASE", "MYSQL_HOST", "MYSQL_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in MYSQL_ENV.items():
        monkeypatch.setenv(key, value)
    made: list[FakeConnection] = []

    @contextmanager
    def connect(settings: Any, timeout: int = 10) -> Iterator[FakeConnection]:
        made.append(FakeConnection())
        yield made[-1]

    monkeypatch.setattr(analytics, "connect", connect)
    return made


def test_main_top_products_as_a_table(
    fake_db: list[FakeConnection], capsys: pytest.CaptureFixture[str]
) -> None:
    assert analytics.main(["top-products", "--limit", "3", "--by", "units"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = ["#", "product", "name", "category", "units", "revenue", "share", "%"]
    assert lines[0].split() == header
    assert lines[2].split() == ["1", "P1", "Eco", "Red", "Kite", "Toys", "2", "20.00", "100.0"]
    assert lines[-1].endswith("ranked by units")
    (connection,) = fake_db
    assert connection.log[0][1] == (3,)
    assert "ORDER BY units DESC" in connection.log[0][0]
    assert connection.rollbacks == 1


def test_main_growth_asks_one_period_more_than_it_shows(
    fake_db: list[FakeConnection], capsys: pytest.CaptureFixture[str]
) -> None:
    assert analytics.main(["growth", "--by", "hour", "--limit", "5", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "hour": "2026-01-02 00:00",
            "events": 8,
            "events_change_pct": None,
            "revenue": "20.00",
            "revenue_change_pct": None,
        }
    ]
    assert fake_db[0].log[0][1] == (6,)
    assert "INTERVAL HOUR(minute_start) HOUR" in fake_db[0].log[0][0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["funnel", "--by", "day"], "--by does not apply to funnel"),
        (["growth", "--by", "week"], "--by for growth must be one of day, hour"),
        (["top-products", "--by", "hour"], "--by for top-products must be one of revenue, units"),
        (["top-products", "--limit", "0"], "--limit"),
        (["top-products", "--format", "xml"], "--format"),
        (["sales"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        analytics.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("INGEST_SINK", "MYSQL_DATABASE", "PGDATABASE"):
        monkeypatch.delenv(key, raising=False)
    assert analytics.main(["funnel"]) == 2
    assert "MYSQL_DATABASE is not set" in capsys.readouterr().err


def test_unreachable_database_exits_3_and_missing_tables_give_an_empty_report(
    fake_db: list[FakeConnection],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    errors = [
        mysql.connector.errors.InterfaceError("2003: Can't connect to MySQL server"),
        mysql.connector.errors.ProgrammingError("Table 'shop.events' doesn't exist", errno=1146),
    ]

    @contextmanager
    def connect(settings: Any, timeout: int = 10) -> Iterator[FakeConnection]:
        raise errors.pop(0)
        yield FakeConnection()

    monkeypatch.setattr(analytics, "connect", connect)
    assert analytics.main(["spend-per-user"]) == 3
    captured = capsys.readouterr()
    assert "analytics: cannot use MySQL at reader@127.0.0.1:3306/shop" in captured.err
    assert "secret" not in captured.err and captured.out == ""
    assert analytics.main(["spend-per-user", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no data yet" in captured.err
