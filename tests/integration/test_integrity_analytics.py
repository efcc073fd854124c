"""ingest-analytics and ingest-integrity as real commands, with the read-only account, on data
the real generator made and the stream ingested; every figure is checked against a plain-Python
reading of the generated CSV files."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from localmysql import free_port
from spark_app.sink.drivers import connect
from tests.helpers import REPO, generate, run_stream
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

EVENTS_HEADER = ["event_id", "user_id", "product_id", "event_type", "price", "event_time"]
CENT, TENTH = Decimal("0.01"), Decimal("0.1")


# --- the independent reading of the files -------------------------------------------------------


@dataclass
class Shop:
    """What the generated files say: events (valid ones), users and products (latest wins)."""

    events: list[tuple[str, str, str, str, Decimal, datetime]] = field(default_factory=list)
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    products: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def purchases(self) -> list[tuple[str, str, str, str, Decimal, datetime]]:
        return [event for event in self.events if event[3] == "purchase"]


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def read_shop(drop: Path) -> Shop:
    """The files in arrival order (modification time, then name), read with the csv module."""
    shop, seen = Shop(), set()
    for path in sorted(drop.glob("*.csv"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header, body = [name.strip().lower() for name in rows[0]], rows[1:]
        if header == EVENTS_HEADER:
            for event_id, user, product, kind, price, moment in body:
                if not user.strip():
                    continue  # the generator's signed-out visitors: rejected as missing_user_id
                assert event_id not in seen, "the generator repeated an event id"
                seen.add(event_id)
                shop.events.append((event_id, user, product, kind, Decimal(price), _utc(moment)))
        elif header[0] == "user_id":
            shop.users.update({row[0]: dict(zip(header, row, strict=True)) for row in body})
        else:
            shop.products.update({row[0]: dict(zip(header, row, strict=True)) for row in body})
    return shop


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _pct(part: Decimal | int, whole: Decimal | int) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(TENTH, ROUND_HALF_UP))


def expected_top_products(shop: Shop, by: str) -> list[dict[str, Any]]:
    units: dict[str, int] = defaultdict(int)
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, product, _, price, _ in shop.purchases:
        units[product] += 1
        revenue[product] += price
    total = sum(revenue.values(), Decimal(0))
    if by == "revenue":
        order = sorted(units, key=lambda p: (-revenue[p], -units[p], p))
    else:
        order = sorted(units, key=lambda p: (-units[p], -revenue[p], p))
    return [
        {
            "rank": rank,
            "product_id": product,
            "name": shop.products[product]["name"],
            "category": shop.products[product]["category"],
            "units": units[product],
            "revenue": _money(revenue[product]),
            "revenue_share_pct": _pct(revenue[product], total),
        }
        for rank, product in enumerate(order, start=1)
    ]


def expected_funnel(shop: Shop) -> list[dict[str, Any]]:
    steps: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for _, user, _, kind, _, moment in shop.events:
        steps[moment.date().isoformat()][kind].add(user)
    out = []
    for day in sorted(steps):
        viewed, carted, bought = (len(steps[day][k]) for k in ("view", "add_to_cart", "purchase"))
        out.append(
            {
                "day": day,
                "viewed": viewed,
                "added_to_cart": carted,
                "purchased": bought,
                "view_to_cart_pct": _pct(carted, viewed),
                "cart_to_purchase_pct": _pct(bought, carted),
            }
        )
    return out


def expected_spend(shop: Shop) -> tuple[list[dict[str, Any]], str]:
    orders: dict[str, int] = defaultdict(int)
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for _, user, _, _, price, _ in shop.purchases:
        orders[user] += 1
        spend[user] += price
    order = sorted(orders, key=lambda u: (-spend[u], -orders[u], u))
    rows = [
        {
            "rank": rank,
            "user_id": user,
            "name": shop.users[user]["name"],
            "city": shop.users[user]["city"],
            "orders": orders[user],
            "spend": _money(spend[user]),
            "average_order": _money(spend[user] / orders[user]),
        }
        for rank, user in enumerate(order, start=1)
    ]
    total = sum(spend.values(), Decimal(0))
    footer = (
        f"buyers: {len(orders)}, orders: {sum(orders.values())}, spend: {_money(total)},"
        f" average per buyer: {_money(total / len(orders))}"
    )
    return rows, footer


def expected_growth(shop: Shop, unit: str) -> list[dict[str, Any]]:
    """Every period from the first event's to the last one's, empty ones included."""
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)

    def start(moment: datetime) -> datetime:
        if unit == "hour":
            return moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    events: dict[datetime, int] = defaultdict(int)
    revenue: dict[datetime, Decimal] = defaultdict(Decimal)
    for _, _, _, kind, price, moment in shop.events:
        events[start(moment)] += 1
        if kind == "purchase":
            revenue[start(moment)] += price
    out: list[dict[str, Any]] = []
    moment, last = min(events), max(events)
    before: tuple[int, Decimal] | None = None
    while moment <= last:
        now = (events[moment], revenue[moment])
        out.append(
            {
                unit: moment.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m-%d %H:00"),
                "events": now[0],
                "events_change_pct": before and _pct(now[0] - before[0], before[0]),
                "revenue": _money(now[1]),
                "revenue_change_pct": before and _pct(now[1] - before[1], before[1]),
            }
        )
        before = now
        moment += step
    return out


# --- data and commands --------------------------------------------------------------------------


def drop_later_events(drop: Path, shop: Shop, count: int = 60) -> Path:
    """Events of real users at real prices spread over three days after the generated ones,
    so days and hours differ and the growth report has changes to show."""
    rng = random.Random(5)
    users, products = sorted(shop.users), sorted(shop.products)
    kinds = ["view", "view", "add_to_cart", "purchase", "remove_from_cart"]
    lines = [",".join(EVENTS_HEADER)]
    for i in range(count):
        # Hours 2..11 of 2026-01-01 to 01-03, busier as the days pass (10, 15, then 35 events).
        day = 1 if i < 10 else 2 if i < 25 else 3
        moment = datetime(2026, 1, day, 2 + rng.randrange(10), rng.randrange(60))
        product = rng.choice(products)
        lines.append(
            f"late-{i:03d},{rng.choice(users)},{product},{rng.choice(kinds)},"
            f"{shop.products[product]['list_price']},{moment.isoformat()}Z"
        )
    path = drop / "events_zz_later.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))
    return path


def command(sink: SinkUnderTest, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m spark_app.commands.<module> ...` with the read-only account."""
    return subprocess.run(
        [sys.executable, "-m", f"spark_app.commands.{module}", *args],
        cwd=REPO, env=sink.env("reader"), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def analytics_json(sink: SinkUnderTest, *args: str) -> list[dict[str, Any]]:
    result = command(sink, "analytics", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def analytics_table(sink: SinkUnderTest, *args: str) -> str:
    result = command(sink, "analytics", *args)
    assert result.returncode == 0, result.stderr
    # Shown with `pytest -rP`: the examples of the README.
    print(f"$ ingest-analytics {' '.join(args)}\n{result.stdout}")
    return result.stdout


def insert_violations(sink: SinkUnderTest, shop: Shop) -> dict[str, str]:
    """One violation of each kind, written by the owner; returns the ids they involve."""
    users = sorted(shop.users)
    product, other = sorted(shop.products)[:2]
    price = Decimal(shop.products[product]["list_price"])
    early_user = users[0]
    email = shop.users[users[1]]["email"]
    now = datetime.now(UTC).replace(tzinfo=None)
    columns = (
        "event_id, user_id, product_id, event_type, price, event_time, source_file, source_line,"
        " query_id, batch_id, ingested_at"
    )
    lineage = ("manual.csv", 1, "00000000-0000-0000-0000-000000000000", 0)
    events = [
        # A price off its product's list price, by a user long registered.
        ("bad-price", users[2], product, "purchase", price + 1, datetime(2026, 1, 5), now),
        # An event 26 years before its user registered, at the right price.
        ("too-early", early_user, other, "view",
         Decimal(shop.products[other]["list_price"]), datetime(2000, 1, 1), now),
        # A user whose row never came, an hour after ingestion: an orphan.
        ("ghost-view", "U-ghost", other, "view",
         Decimal(shop.products[other]["list_price"]), datetime(2026, 1, 5),
         now - timedelta(hours=1)),
    ]  # fmt: skip
    with connect(sink.settings("owner")) as connection:
        cursor = connection.cursor()
        for event_id, user, item, kind, amount, moment, ingested in events:
            cursor.execute(
                f"INSERT INTO events ({columns})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (event_id, user, item, kind, amount, moment, *lineage, ingested),
            )
        cursor.execute(
            "INSERT INTO users (user_id, is_placeholder, updated_at) VALUES (%s, %s, %s)",
            ("U-ghost", True, now),
        )
        # The same email in other letter case: one mailbox.
        cursor.execute(
            "INSERT INTO users (user_id, name, email, city, registered_at, is_placeholder,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            ("U-twin", "Twin", email.upper(), "Oslo", datetime(2025, 1, 1), False, now),
        )
        connection.commit()
    return {"product": product, "early_user": early_user, "email": email.lower()}


# --- the tests ----------------------------------------------------------------------------------


def test_reports_and_integrity_on_generated_data(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    generate(sink.env(), drop, 20, 7, "--entities")
    drop_later_events(drop, read_shop(drop))
    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=5)
    shop = read_shop(drop)
    assert sink.count("events") == len(shop.events)
    assert len(shop.purchases) > 10

    # top-products, both rankings; --limit keeps the first rows of the full ranking.
    assert analytics_json(sink, "top-products", "--limit", "1000") == expected_top_products(
        shop, "revenue"
    )
    by_units = expected_top_products(shop, "units")
    assert analytics_json(sink, "top-products", "--by", "units", "--limit", "5") == by_units[:5]
    table = analytics_table(sink, "top-products", "--limit", "5")
    purchases = len(shop.purchases)
    revenue = _money(sum((event[4] for event in shop.purchases), Decimal(0)))
    assert f"purchases: {purchases} unit(s) of {len(by_units)} product(s), revenue {revenue}" in (
        table
    )

    # funnel per UTC day; the last N days with --limit.
    funnel = expected_funnel(shop)
    assert [row["day"] for row in funnel] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert analytics_json(sink, "funnel") == funnel
    assert analytics_json(sink, "funnel", "--limit", "2") == funnel[-2:]
    analytics_table(sink, "funnel")

    # spend-per-user, with the totals line of the table.
    spend, footer = expected_spend(shop)
    assert analytics_json(sink, "spend-per-user", "--limit", "10000") == spend
    assert footer in analytics_table(sink, "spend-per-user", "--limit", "5")

    # growth per hour and per day from events_per_minute, empty hours filled.
    hours = expected_growth(shop, "hour")
    assert len(hours) >= 48
    assert analytics_json(sink, "growth", "--by", "hour", "--limit", "1000") == hours
    assert analytics_json(sink, "growth", "--by", "hour", "--limit", "6") == hours[-6:]
    assert analytics_json(sink, "growth") == expected_growth(shop, "day")
    analytics_table(sink, "growth", "--by", "hour", "--limit", "6")
    analytics_table(sink, "growth")

    # CSV: the same rows as JSON, as text.
    result = command(sink, "analytics", "top-products", "--format", "csv", "--limit", "3")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [row["product_id"] for row in rows] == [
        row["product_id"] for row in expected_top_products(shop, "revenue")[:3]
    ]

    # Integrity: the generated data has no violation.
    clean = command(sink, "integrity")
    assert (clean.returncode, clean.stdout) == (0, "integrity: 0 violations\n"), clean.stderr
    assert json.loads(command(sink, "integrity", "--json").stdout)["ok"] is True

    ids = insert_violations(sink, shop)
    found = command(sink, "integrity")
    print(f"$ ingest-integrity\n{found.stdout}")
    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == [
        "orphans: 1 event(s) name 1 placeholder user(s) and 0 placeholder product(s),"
        " ingested over 300 s ago (e.g. U-ghost)",
        "price_mismatch: 1 event(s) of 1 real product(s) differ from the list price"
        f" (e.g. {ids['product']})",
        "before_registration: 1 event(s) of 1 real user(s) happened before the user registered"
        f" (e.g. {ids['early_user']})",
        f"duplicate_emails: 1 email(s) used by 2 real users (e.g. {ids['email']})",
        "integrity: 4 violation kind(s)",
    ]
    # Within a two-hour grace the placeholder may still be completed: no orphan yet.
    graced = command(sink, "integrity", "--grace-seconds", "7200", "--json")
    assert graced.returncode == 1, graced.stderr
    document = json.loads(graced.stdout)
    assert [f["kind"] for f in document["findings"]] == [
        "price_mismatch",
        "before_registration",
        "duplicate_emails",
    ]
    assert document["findings"][2] == {
        "kind": "duplicate_emails",
        "count": 1,
        "users": 2,
        "examples": [ids["email"]],
    }


def test_empty_schema_and_unreachable_database(sink: SinkUnderTest) -> None:
    empty = command(sink, "integrity")
    assert (empty.returncode, empty.stdout) == (0, "integrity: 0 violations\n"), empty.stderr
    for report in ("top-products", "funnel", "spend-per-user", "growth"):
        result = command(sink, "analytics", report)
        assert result.returncode == 0, result.stderr
        assert "(no rows)" in result.stdout
        assert json.loads(command(sink, "analytics", report, "--format", "json").stdout) == []

    port = "MYSQL_PORT" if sink.kind == "mysql" else "PGPORT"
    env = {**sink.env("reader"), port: str(free_port())}
    password = env["MYSQL_PASSWORD" if sink.kind == "mysql" else "PGPASSWORD"]
    for module, args in (("integrity", []), ("analytics", ["funnel"])):
        result = subprocess.run(
            [sys.executable, "-m", f"spark_app.commands.{module}", *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"{module}: cannot use" in result.stderr
        assert "Traceback" not in result.stderr and password not in result.stderr
