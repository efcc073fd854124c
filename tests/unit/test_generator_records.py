"""Tests of the pure event builders in generator.records."""

import csv
import io
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise

import pytest
from faker import Faker

from generator.records import (
    COLUMNS,
    EVENT_TYPE_WEIGHTS,
    Catalog,
    Event,
    build_catalog,
    event_row,
    format_event_time,
    make_events,
    render_csv,
    write_csv,
)

NOW = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)
EVENT_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog()


def sources(seed: int) -> tuple[Faker, random.Random]:
    fake = Faker()
    fake.seed_instance(seed)
    return fake, random.Random(seed)


def events(catalog: Catalog, n: int, null_user_rate: float = 0.05, seed: int = 3) -> list[Event]:
    fake, rng = sources(seed)
    return make_events(fake, rng, catalog, n, NOW, null_user_rate)


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_catalog_has_fixed_unique_pools(catalog: Catalog) -> None:
    assert len(catalog.users) == 1_000
    assert len(set(catalog.users)) == 1_000
    assert all(re.fullmatch(r"U\d{6}", user) for user in catalog.users)
    assert len(catalog.products) == 200
    assert len({p.product_id for p in catalog.products}) == 200
    assert all(re.fullmatch(r"P\d{5}", p.product_id) for p in catalog.products)
    # Built from the internal pool seed only, so every build (every run) gives the same pools.
    assert build_catalog() == catalog


def test_catalog_prices_have_two_places_within_range(catalog: Catalog) -> None:
    prices = [p.price for p in catalog.products]
    assert all(p.as_tuple().exponent == -2 for p in prices)
    assert min(prices) >= Decimal("1.99")
    assert max(prices) <= Decimal("499.99")
    assert len(set(prices)) > 150


def test_catalog_depends_on_pool_seed() -> None:
    assert build_catalog(users=50, products=20, seed=1) != build_catalog(users=50, products=20)


def test_catalog_rejects_empty_pool() -> None:
    with pytest.raises(ValueError, match="pool size"):
        build_catalog(users=0)


def test_make_events_count_and_fields(catalog: Catalog) -> None:
    batch = events(catalog, 21)
    assert len(batch) == 21
    product_prices = {p.product_id: p.price for p in catalog.products}
    for event in batch:
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event.event_id
        )
        assert event.user_id is None or event.user_id in catalog.users
        assert event.price == product_prices[event.product_id]
        assert event.event_type in EVENT_TYPE_WEIGHTS
    assert len({e.event_id for e in batch}) == 21


def test_event_times_start_at_now_in_ms_and_advance(catalog: Catalog) -> None:
    batch = events(catalog, 50)
    times = [e.event_time for e in batch]
    assert times[0] == datetime(2026, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert all(timedelta(milliseconds=1) <= gap <= timedelta(milliseconds=40) for gap in gaps)
    assert all(t.microsecond % 1000 == 0 for t in times)


def test_make_events_converts_other_zones_and_rejects_naive(catalog: Catalog) -> None:
    fake, rng = sources(1)
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    batch = make_events(fake, rng, catalog, 1, plus_two, 0.0)
    assert batch[0].event_time == datetime(2026, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone"):
        make_events(fake, rng, catalog, 1, NOW.replace(tzinfo=None), 0.0)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_make_events_rejects_rate_outside_unit_interval(catalog: Catalog, rate: float) -> None:
    fake, rng = sources(1)
    with pytest.raises(ValueError, match="null_user_rate"):
        make_events(fake, rng, catalog, 1, NOW, rate)


def test_null_user_rate_is_respected(catalog: Catalog) -> None:
    batch = events(catalog, 20_000, null_user_rate=0.05)
    share = sum(e.user_id is None for e in batch) / len(batch)
    # Five standard deviations of a binomial share at n=20,000, p=0.05 is about 0.0077.
    assert share == pytest.approx(0.05, abs=0.008)


def test_null_user_rate_zero_and_one(catalog: Catalog) -> None:
    assert all(e.user_id is not None for e in events(catalog, 2_000, null_user_rate=0.0))
    assert all(e.user_id is None for e in events(catalog, 2_000, null_user_rate=1.0))


def test_event_types_follow_funnel_weights(catalog: Catalog) -> None:
    assert sum(EVENT_TYPE_WEIGHTS.values()) == pytest.approx(1.0)
    batch = events(catalog, 20_000, seed=11)
    counts = Counter(e.event_type for e in batch)
    assert set(counts) == set(EVENT_TYPE_WEIGHTS)
    for event_type, weight in EVENT_TYPE_WEIGHTS.items():
        assert counts[event_type] / len(batch) == pytest.approx(weight, abs=0.02)
    assert counts["view"] > counts["add_to_cart"] > counts["purchase"] > counts["remove_from_cart"]


def test_users_and_products_recur(catalog: Catalog) -> None:
    batch = events(catalog, 1_000)
    users = Counter(e.user_id for e in batch if e.user_id is not None)
    products = Counter(e.product_id for e in batch)
    assert max(users.values()) >= 2
    assert max(products.values()) >= 2
    assert len(products) > 150


def test_same_seed_same_events_other_seed_differs(catalog: Catalog) -> None:
    assert events(catalog, 100, seed=5) == events(catalog, 100, seed=5)
    assert events(catalog, 100, seed=5) != events(catalog, 100, seed=6)


def test_format_event_time_is_utc_with_milliseconds() -> None:
    text = format_event_time(datetime(2026, 11, 25, 11, 33, 50, 123_456, tzinfo=UTC))
    assert text == "2026-11-25T11:33:50.123Z"
    plus_one = datetime(2026, 11, 25, 12, 33, 50, 5_000, tzinfo=timezone(timedelta(hours=1)))
    assert format_event_time(plus_one) == "2026-11-25T11:33:50.005Z"
    assert datetime.fromisoformat(text) == datetime(2026, 11, 25, 11, 33, 50, 123_000, tzinfo=UTC)


def test_event_row_renders_null_user_and_price() -> None:
    event = Event(
        event_id="e-1",
        user_id=None,
        product_id="P00001",
        event_type="purchase",
        price=Decimal("5.00"),
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert event_row(event) == ("e-1", "", "P00001", "purchase", "5.00", "2026-01-01T00:00:00.000Z")


def test_render_csv_header_and_rows(catalog: Catalog) -> None:
    batch = events(catalog, 21, null_user_rate=0.3)
    text = render_csv(batch)
    lines = text.split("\n")
    assert lines[0] == ",".join(COLUMNS)
    assert lines[-1] == ""  # the file ends with one newline
    assert len(lines) == 23
    assert "\r" not in text
    rows = parse_csv(text)
    assert [list(row) for row in rows[:1]] == [list(COLUMNS)]
    assert len(rows) == 21
    for row, event in zip(rows, batch, strict=True):
        assert row["event_id"] == event.event_id
        assert row["user_id"] == (event.user_id or "")
        assert Decimal(row["price"]) == event.price
        assert re.fullmatch(r"\d+\.\d\d", row["price"])
        assert EVENT_TIME_RE.fullmatch(row["event_time"])
        parsed = datetime.fromisoformat(row["event_time"])
        assert parsed.utcoffset() == timedelta(0)
        assert parsed == event.event_time


def test_write_csv_quotes_only_when_needed() -> None:
    out = io.StringIO(newline="")
    write_csv(out, [("a", "b,c", 'say "hi"'), ("1", "", "x")])
    assert out.getvalue() == 'a,"b,c","say ""hi"""\n1,,x\n'
