"""Tests of the pure dimension builders (generator.entities) and the funnel (generator.funnel)."""

import csv
import io
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from faker import Faker

from generator.entities import (
    MAX_SIGNUP_AGE,
    PRODUCT_KINDS,
    USER_ID_SPACE,
    build_product,
    build_user,
    new_user_id,
    new_user_ids,
    product_csv_rows,
    signup_time,
    user_csv_rows,
)
from generator.funnel import (
    MAX_CART_ITEMS,
    Basket,
    Shoppers,
    make_funnel_events,
    next_step,
    register,
)
from generator.records import Catalog, Event, Product, build_catalog, write_csv

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 2, 3, 4, 5, 6, 789_123, tzinfo=UTC)
EMAIL_RE = re.compile(r"[a-z0-9]+\.[a-z0-9]+\.u\d{6}@example\.(com|org|net)")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog()


def render(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO(newline="")
    write_csv(buffer, rows)
    return buffer.getvalue()


def test_user_is_a_function_of_its_id_not_of_the_faker_state(catalog: Catalog) -> None:
    first = Faker()
    first.seed_instance(1)
    second = Faker()
    second.seed_instance(99)
    # A different history before the calls.
    second.name()
    second.uuid4()
    for user_id in catalog.users[:50]:
        assert build_user(first, user_id, ANCHOR) == build_user(second, user_id, ANCHOR)
    # Building in another order gives the same users too.
    forward = [build_user(first, u, ANCHOR) for u in catalog.users[:20]]
    backward = [build_user(second, u, ANCHOR) for u in reversed(catalog.users[:20])]
    assert forward == backward[::-1]


def test_users_differ_between_ids_and_have_unique_emails(catalog: Catalog) -> None:
    fake = Faker()
    new_ids, _ = new_user_ids(0, 0, 2_000, frozenset(catalog.users))
    users = [build_user(fake, u, ANCHOR) for u in (*catalog.users, *new_ids)]
    assert len(users) == 3_000
    emails = [u.email for u in users]
    assert len(set(emails)) == len(emails)
    assert all(EMAIL_RE.fullmatch(email) for email in emails)
    assert all(u.email.split("@")[0].endswith(u.user_id.lower()) for u in users)
    # Names and cities come from Faker per id, so they vary (and names do collide sometimes).
    assert len({u.name for u in users}) > 2_000
    assert len({u.city for u in users}) > 1_000
    assert all(u.name.strip() and u.city.strip() for u in users)


def test_signup_time_is_a_fixed_age_before_the_anchor(catalog: Catalog) -> None:
    times = [signup_time(u, ANCHOR) for u in catalog.users]
    assert all(ANCHOR - MAX_SIGNUP_AGE <= t < ANCHOR for t in times)
    assert all(t.microsecond % 1000 == 0 for t in times)
    assert len(set(times)) == len(times)
    assert [signup_time(u, ANCHOR) for u in catalog.users] == times
    later = ANCHOR + timedelta(days=3)
    assert signup_time(catalog.users[0], later) - times[0] == timedelta(days=3)


def test_product_is_a_function_of_its_id_with_the_catalog_price(catalog: Catalog) -> None:
    first, second = Faker(), Faker()
    second.seed_instance(5)
    second.word()
    infos = [build_product(first, p) for p in catalog.products]
    assert infos == [build_product(second, p) for p in catalog.products]
    for product, info in zip(catalog.products, infos, strict=True):
        assert info.product_id == product.product_id
        assert info.list_price == product.price
        assert info.category in PRODUCT_KINDS
        assert any(info.name.endswith(f" {kind}") for kind in PRODUCT_KINDS[info.category])
    assert len({i.category for i in infos}) == len(PRODUCT_KINDS)
    assert len({i.name for i in infos}) > 150


def test_new_user_ids_cover_the_id_space_once() -> None:
    ids = [new_user_id(i) for i in range(USER_ID_SPACE)]
    assert len(set(ids)) == USER_ID_SPACE
    assert all(re.fullmatch(r"U\d{6}", user_id) for user_id in ids[::997])
    assert new_user_id(USER_ID_SPACE + 7) == new_user_id(7)


def test_new_user_ids_skip_taken_ids_and_continue_where_they_stopped(catalog: Catalog) -> None:
    taken = frozenset(catalog.users) | {new_user_id(1), new_user_id(2)}
    first, position = new_user_ids(0, 0, 3, taken)
    assert first == (new_user_id(0), new_user_id(3), new_user_id(4))
    assert position == 5
    second, position = new_user_ids(0, position, 3_000, taken)
    assert position >= 3_005
    both = first + second
    assert len(set(both)) == len(both) == 3_003
    assert not set(both) & taken
    # Another offset walks the same order from elsewhere.
    assert new_user_ids(10, 0, 1, frozenset())[0] == (new_user_id(10),)


def test_new_user_ids_stop_after_one_lap() -> None:
    ids, position = new_user_ids(0, USER_ID_SPACE - 2, 5, frozenset())
    assert ids == (new_user_id(USER_ID_SPACE - 2), new_user_id(USER_ID_SPACE - 1))
    assert position == USER_ID_SPACE
    assert new_user_ids(0, position, 5, frozenset()) == ((), USER_ID_SPACE)


def test_users_and_products_csv(catalog: Catalog) -> None:
    fake = Faker()
    users = [build_user(fake, u, signup_time(u, ANCHOR)) for u in catalog.users[:5]]
    lines = render(user_csv_rows(users)).split("\n")
    assert lines[0] == "user_id,name,email,city,registered_at"
    rows = list(csv.DictReader(io.StringIO("\n".join(lines), newline="")))
    assert [r["user_id"] for r in rows] == list(catalog.users[:5])
    for row, user in zip(rows, users, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["registered_at"])
        assert datetime.fromisoformat(row["registered_at"]) == user.registered_at
        assert (row["name"], row["email"], row["city"]) == (user.name, user.email, user.city)

    infos = [build_product(fake, p) for p in catalog.products[:5]]
    text = render(product_csv_rows(infos))
    assert text.split("\n")[0] == "product_id,name,category,list_price"
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert all(re.fullmatch(r"\d+\.\d\d", r["list_price"]) for r in rows)
    assert [Decimal(r["list_price"]) for r in rows] == [p.price for p in catalog.products[:5]]
    assert [r["category"] for r in rows] == [i.category for i in infos]


def products(count: int) -> tuple[Product, ...]:
    return tuple(Product(f"P{i:05d}", Decimal(i + 1).scaleb(-2)) for i in range(count))


def test_next_step_without_history_can_only_view() -> None:
    rng = random.Random(1)
    catalog = products(3)
    for _ in range(50):
        event_type, product, basket = next_step(rng, Basket(), catalog)
        assert event_type == "view"
        assert basket == Basket(viewed=(product,))


def test_next_step_adds_only_viewed_products_and_takes_only_from_the_cart() -> None:
    rng = random.Random(2)
    catalog = products(10)
    viewed, in_cart = catalog[:3], catalog[3:5]
    seen: Counter[str] = Counter()
    for _ in range(400):
        event_type, product, basket = next_step(rng, Basket(viewed, in_cart), catalog)
        seen[event_type] += 1
        if event_type == "add_to_cart":
            assert product in viewed
            assert basket.cart == (*in_cart, product)
        elif event_type in ("remove_from_cart", "purchase"):
            assert product in in_cart
            assert basket.cart == tuple(p for p in in_cart if p != product)
        else:
            assert basket.viewed[-1] == product
            assert basket.cart == in_cart
    assert set(seen) == {"view", "add_to_cart", "remove_from_cart", "purchase"}


def test_next_step_does_not_overfill_the_cart() -> None:
    rng = random.Random(3)
    catalog = products(20)
    full = Basket(viewed=catalog[10:13], cart=catalog[:MAX_CART_ITEMS])
    steps = {next_step(rng, full, catalog)[0] for _ in range(300)}
    assert steps == {"view", "remove_from_cart", "purchase"}


def funnel_run(
    catalog: Catalog, files: int, seed: int, null_user_rate: float = 0.05
) -> tuple[list[Event], Shoppers]:
    fake = Faker()
    fake.seed_instance(seed)
    rng = random.Random(seed)
    shoppers = Shoppers(users=catalog.users)
    events: list[Event] = []
    for index in range(files):
        shoppers = register(shoppers, [f"U9{index:05d}"])
        batch, shoppers = make_funnel_events(
            fake, rng, shoppers, catalog.products, 21, NOW, null_user_rate
        )
        events += batch
    return events, shoppers


def test_funnel_events_follow_each_users_funnel(catalog: Catalog) -> None:
    events, shoppers = funnel_run(catalog, 300, seed=4)
    prices = {p.product_id: p.price for p in catalog.products}
    viewed: set[tuple[str, str]] = set()
    in_cart: set[tuple[str, str]] = set()
    counts: Counter[str] = Counter()
    for event in events:
        counts[event.event_type] += 1
        assert event.price == prices[event.product_id]
        if event.user_id is None:
            assert event.event_type == "view"
            continue
        assert event.user_id in shoppers.users
        key = (event.user_id, event.product_id)
        if event.event_type == "view":
            viewed.add(key)
        elif event.event_type == "add_to_cart":
            assert key in viewed
            assert key not in in_cart
            in_cart.add(key)
        else:
            assert key in in_cart, f"{event.event_type} of {key} without it in the cart"
            in_cart.remove(key)
    share = {k: v / len(events) for k, v in counts.items()}
    assert share["view"] > share["add_to_cart"] > share["purchase"] > share["remove_from_cart"]
    assert share["purchase"] > 0.05
    # Users signed up during the run shop too.
    assert any(e.user_id and e.user_id.startswith("U9") for e in events)


def test_funnel_events_times_ids_and_null_users(catalog: Catalog) -> None:
    events, _ = funnel_run(catalog, 500, seed=5, null_user_rate=0.05)
    assert len({e.event_id for e in events}) == len(events)
    share = sum(e.user_id is None for e in events) / len(events)
    # Five standard deviations of a binomial share at n=10,500, p=0.05 is about 0.011.
    assert share == pytest.approx(0.05, abs=0.011)
    batch = events[:21]
    assert batch[0].event_time == NOW.replace(microsecond=789_000)
    gaps = [b.event_time - a.event_time for a, b in pairwise(batch)]
    assert all(timedelta(milliseconds=1) <= gap <= timedelta(milliseconds=40) for gap in gaps)
    all_null, _ = funnel_run(catalog, 5, seed=5, null_user_rate=1.0)
    assert all(e.user_id is None and e.event_type == "view" for e in all_null)


def test_funnel_events_repeat_for_a_seed_and_differ_for_another(catalog: Catalog) -> None:
    assert funnel_run(catalog, 20, seed=6) == funnel_run(catalog, 20, seed=6)
    assert funnel_run(catalog, 20, seed=6)[0] != funnel_run(catalog, 20, seed=7)[0]


def test_register_makes_new_users_active_and_keeps_baskets(catalog: Catalog) -> None:
    fake, rng = Faker(), random.Random(8)
    _, shoppers = make_funnel_events(
        fake, rng, Shoppers(users=catalog.users[:10]), catalog.products, 30, NOW, 0.0
    )
    grown = register(shoppers, ["U999998", "U999999"])
    assert grown.users == (*catalog.users[:10], "U999998", "U999999")
    assert grown.active[-2:] == ("U999998", "U999999")
    assert grown.baskets == shoppers.baskets
    assert shoppers.baskets  # the events moved some users along


def test_make_funnel_events_rejects_bad_input(catalog: Catalog) -> None:
    fake, rng = Faker(), random.Random(1)
    shoppers = Shoppers(users=catalog.users)
    with pytest.raises(ValueError, match="null_user_rate"):
        make_funnel_events(fake, rng, shoppers, catalog.products, 1, NOW, 1.5)
    with pytest.raises(ValueError, match="timezone"):
        make_funnel_events(fake, rng, shoppers, catalog.products, 1, NOW.replace(tzinfo=None), 0)
    with pytest.raises(ValueError, match="no registered users"):
        make_funnel_events(fake, rng, Shoppers(users=()), catalog.products, 1, NOW, 0.5)
    with pytest.raises(ValueError, match="no products"):
        make_funnel_events(fake, rng, shoppers, (), 1, NOW, 0.5)
