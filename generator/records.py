"""Pure builders of shop events: a seeded Faker and random.Random in, events and CSV rows out."""

import csv
import io
import random
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TextIO

from faker import Faker, Generator
from faker.providers import BaseProvider

COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "user_id",
    "product_id",
    "event_type",
    "price",
    "event_time",
)

# A shop funnel: most visits only look, some add to the cart, fewer buy, fewer still remove.
EVENT_TYPE_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {"view": 0.65, "add_to_cart": 0.20, "remove_from_cart": 0.05, "purchase": 0.10}
)

# The pools depend on this seed only, never on --seed, so ids and prices are the same in every
# run: a user or product seen in one run's files is the same one in the next run's.
POOL_SEED: Final = 20_260_101
USER_POOL_SIZE: Final = 1_000
PRODUCT_POOL_SIZE: Final = 200
USER_ID_FORMAT: Final = "U######"
PRODUCT_ID_FORMAT: Final = "P#####"
MIN_PRICE_CENTS: Final = 199
MAX_PRICE_CENTS: Final = 49_999
MAX_EVENT_GAP_MS: Final = 40


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the shop with its fixed price."""

    product_id: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Catalog:
    """The stable pools that events draw their users and products from."""

    users: tuple[str, ...]
    products: tuple[Product, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One shop event; ``user_id`` is None for an event without a known user."""

    event_id: str
    user_id: str | None
    product_id: str
    event_type: str
    price: Decimal
    event_time: datetime


class ShopProvider(BaseProvider):
    """Faker provider of the shop's domain fields."""

    def __init__(self, generator: Faker | Generator) -> None:
        super().__init__(generator)
        # Faker only weighs an OrderedDict, and caches its keys on it, so build it once.
        self._event_types: OrderedDict[str, float] = OrderedDict(EVENT_TYPE_WEIGHTS)

    def user_id(self) -> str:
        """Return a user id such as ``U000123``."""
        return self.numerify(USER_ID_FORMAT)

    def product_id(self) -> str:
        """Return a product id such as ``P00042``."""
        return self.numerify(PRODUCT_ID_FORMAT)

    def product_price(self) -> Decimal:
        """Return a price with exactly two decimals between 1.99 and 499.99."""
        return Decimal(self.random_int(MIN_PRICE_CENTS, MAX_PRICE_CENTS)).scaleb(-2)

    def event_type(self) -> str:
        """Return an event type drawn with the funnel weights."""
        return self.random_elements(self._event_types, length=1, use_weighting=True)[0]


def _unique_ids(draw: Callable[[], str], count: int, capacity: int) -> tuple[str, ...]:
    """Draw ids until ``count`` distinct ones are found, keeping the order of first draw."""
    if not 1 <= count <= capacity // 2:
        raise ValueError(f"pool size must be between 1 and {capacity // 2}, got {count}")
    ids: dict[str, None] = {}
    while len(ids) < count:
        ids[draw()] = None
    return tuple(ids)


def build_catalog(
    users: int = USER_POOL_SIZE, products: int = PRODUCT_POOL_SIZE, seed: int = POOL_SEED
) -> Catalog:
    """Build the user and product pools, the same for the same arguments."""
    generator = Generator()
    generator.seed_instance(seed)
    shop = ShopProvider(generator)
    user_ids = _unique_ids(shop.user_id, users, 10 ** USER_ID_FORMAT.count("#"))
    product_ids = _unique_ids(shop.product_id, products, 10 ** PRODUCT_ID_FORMAT.count("#"))
    return Catalog(
        users=user_ids,
        products=tuple(Product(product_id, shop.product_price()) for product_id in product_ids),
    )


def first_event_time(now: datetime) -> datetime:
    """Return ``now`` in UTC cut to whole milliseconds, the time of a file's first event."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    event_time = now.astimezone(UTC)
    return event_time.replace(microsecond=event_time.microsecond // 1000 * 1000)


def make_events(
    fake: Faker,
    rng: random.Random,
    catalog: Catalog,
    n: int,
    now: datetime,
    null_user_rate: float,
) -> list[Event]:
    """Make ``n`` events starting at ``now``, each a few random milliseconds after the last."""
    if not 0.0 <= null_user_rate <= 1.0:
        raise ValueError(f"null_user_rate must be within [0, 1], got {null_user_rate}")
    shop = ShopProvider(fake)
    event_time = first_event_time(now)
    events: list[Event] = []
    for _ in range(n):
        product = rng.choice(catalog.products)
        user_id = None if rng.random() < null_user_rate else rng.choice(catalog.users)
        events.append(
            Event(
                event_id=fake.uuid4(),
                user_id=user_id,
                product_id=product.product_id,
                event_type=shop.event_type(),
                price=product.price,
                event_time=event_time,
            )
        )
        event_time += timedelta(milliseconds=rng.randint(1, MAX_EVENT_GAP_MS))
    return events


def format_event_time(moment: datetime) -> str:
    """Format a moment as UTC ISO-8601 with milliseconds and a ``Z``."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def event_row(event: Event) -> tuple[str, ...]:
    """Return the CSV fields of an event, in ``COLUMNS`` order."""
    return (
        event.event_id,
        event.user_id or "",
        event.product_id,
        event.event_type,
        f"{event.price:.2f}",
        format_event_time(event.event_time),
    )


def csv_rows(events: Iterable[Event]) -> Iterator[tuple[str, ...]]:
    """Yield the header, then one row per event."""
    yield COLUMNS
    for event in events:
        yield event_row(event)


def write_csv(out: TextIO, rows: Iterable[Sequence[str]]) -> None:
    """Write rows as CSV with ``\\n`` line endings and minimal quoting."""
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow(row)


def render_csv(events: Iterable[Event]) -> str:
    """Return the whole CSV text, header included, of some events."""
    buffer = io.StringIO(newline="")
    write_csv(buffer, csv_rows(events))
    return buffer.getvalue()
