"""Pure builder of events that follow each user's funnel: view, add to cart, then buy or remove."""

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from faker import Faker

from generator.records import (
    MAX_EVENT_GAP_MS,
    Event,
    Product,
    first_event_time,
)

# Bounds on what a user remembers, so the state stays small over a long run.
MAX_RECENT_VIEWS: Final = 5
MAX_CART_ITEMS: Final = 5
# Shoppers come back within a session: most signed-in events go to someone active lately,
# which lets funnels get past the first view instead of spreading thin over every user.
ACTIVE_SHOPPERS: Final = 25
RETURNING_SHARE: Final = 0.7
# Weights of a user's next step among those open to them. Leaving and buying weigh more than
# in EVENT_TYPE_WEIGHTS because only users with a cart can take them; overall the mix comes
# out close to those weights (about 65 % views, 21 % adds, 9 % purchases, 5 % removes).
STEP_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {"view": 0.45, "add_to_cart": 0.20, "remove_from_cart": 0.15, "purchase": 0.30}
)


@dataclass(frozen=True, slots=True)
class Basket:
    """One user's place in the funnel: products looked at lately and products in the cart."""

    viewed: tuple[Product, ...] = ()
    cart: tuple[Product, ...] = ()


@dataclass(frozen=True, slots=True)
class Shoppers:
    """The registered users, each one's basket, and who shopped most recently (newest last)."""

    users: tuple[str, ...]
    baskets: Mapping[str, Basket] = field(default_factory=dict)
    active: tuple[str, ...] = ()


def _most_recent(items: tuple[str, ...], item: str, limit: int) -> tuple[str, ...]:
    """Return ``items`` with ``item`` moved (or added) to the end, keeping the last ``limit``."""
    return (*(other for other in items if other != item), item)[-limit:]


def register(shoppers: Shoppers, user_ids: Iterable[str]) -> Shoppers:
    """Return ``shoppers`` with new users added; they start shopping right after signing up."""
    new = tuple(user_ids)
    active = shoppers.active
    for user_id in new:
        active = _most_recent(active, user_id, ACTIVE_SHOPPERS)
    return replace(shoppers, users=shoppers.users + new, active=active)


def next_step(
    rng: random.Random, basket: Basket, products: Sequence[Product]
) -> tuple[str, Product, Basket]:
    """Pick a user's next step among those the basket allows; return it and the new basket."""
    addable: tuple[Product, ...] = ()
    if len(basket.cart) < MAX_CART_ITEMS:
        addable = tuple(p for p in basket.viewed if p not in basket.cart)
    steps = ["view"]
    if addable:
        steps.append("add_to_cart")
    if basket.cart:
        steps += ["remove_from_cart", "purchase"]
    event_type = rng.choices(steps, weights=[STEP_WEIGHTS[step] for step in steps])[0]
    if event_type == "view":
        product = rng.choice(products)
        viewed = (*(p for p in basket.viewed if p != product), product)[-MAX_RECENT_VIEWS:]
        return event_type, product, replace(basket, viewed=viewed)
    if event_type == "add_to_cart":
        product = rng.choice(addable)
        return event_type, product, replace(basket, cart=(*basket.cart, product))
    # Removing and buying both take the product out of the cart.
    product = rng.choice(basket.cart)
    return event_type, product, replace(basket, cart=tuple(p for p in basket.cart if p != product))


def make_funnel_events(
    fake: Faker,
    rng: random.Random,
    shoppers: Shoppers,
    products: Sequence[Product],
    n: int,
    now: datetime,
    null_user_rate: float,
) -> tuple[list[Event], Shoppers]:
    """Make ``n`` events from ``now`` on along each user's funnel; return them and the new state."""
    # The caller registers users no later than ``now``: nothing here can predate a signup.
    if not 0.0 <= null_user_rate <= 1.0:
        raise ValueError(f"null_user_rate must be within [0, 1], got {null_user_rate}")
    if not products:
        raise ValueError("no products to shop for")
    if not shoppers.users and null_user_rate < 1.0:
        raise ValueError("no registered users to make signed-in events for")
    event_time = first_event_time(now)
    baskets = dict(shoppers.baskets)
    active = shoppers.active
    events: list[Event] = []
    for _ in range(n):
        event_id = fake.uuid4()
        user_id: str | None = None
        if rng.random() < null_user_rate:
            # A visitor who is not signed in only browses: no cart to follow without a user.
            event_type, product = "view", rng.choice(products)
        else:
            if active and rng.random() < RETURNING_SHARE:
                user_id = rng.choice(active)
            else:
                user_id = rng.choice(shoppers.users)
            event_type, product, baskets[user_id] = next_step(
                rng, baskets.get(user_id, Basket()), products
            )
            active = _most_recent(active, user_id, ACTIVE_SHOPPERS)
        events.append(
            Event(
                event_id=event_id,
                user_id=user_id,
                product_id=product.product_id,
                event_type=event_type,
                price=product.price,
                event_time=event_time,
            )
        )
        event_time += timedelta(milliseconds=rng.randint(1, MAX_EVENT_GAP_MS))
    return events, Shoppers(users=shoppers.users, baskets=baskets, active=active)
