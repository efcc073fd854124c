"""Pure builders of the users and products dimension rows, each a function of its id alone."""

import hashlib
import random
import re
import unicodedata
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from faker import Faker

from generator.records import USER_ID_FORMAT, Product, format_event_time

USER_COLUMNS: Final[tuple[str, ...]] = ("user_id", "name", "email", "city", "registered_at")
PRODUCT_COLUMNS: Final[tuple[str, ...]] = ("product_id", "name", "category", "list_price")

# The initial population signed up within this window before the run's registration anchor.
MIN_SIGNUP_AGE: Final = timedelta(minutes=1)
MAX_SIGNUP_AGE: Final = timedelta(days=3 * 365)

# New users take ids in the order of a fixed permutation of the whole id space (affine, digits
# reversed, affine again): every id once, scattered like the pool's, and no list to keep.
USER_ID_DIGITS: Final = USER_ID_FORMAT.count("#")
USER_ID_PREFIX: Final = USER_ID_FORMAT.rstrip("#")
USER_ID_SPACE: Final = 10**USER_ID_DIGITS
# Multipliers coprime with 10**6 (odd, not a multiple of 5), so each affine step is a bijection.
FIRST_STEP: Final = (387_529, 104_729)
SECOND_STEP: Final = (640_973, 271_829)

# Categories and the kinds of product each sells; a product's name ends with one of its kinds.
PRODUCT_KINDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "Electronics": ("Headphones", "Speaker", "Charger", "Keyboard", "Webcam", "Monitor"),
        "Home & Kitchen": ("Kettle", "Blender", "Knife Set", "Toaster", "Lamp", "Cushion"),
        "Books": ("Cookbook", "Novel", "Travel Guide", "Atlas", "Notebook", "Poetry Collection"),
        "Sports": ("Yoga Mat", "Water Bottle", "Dumbbell", "Running Belt", "Tennis Racket"),
        "Toys": ("Puzzle", "Board Game", "Building Set", "Plush Bear", "Kite"),
        "Beauty": ("Face Cream", "Shampoo", "Perfume", "Lip Balm", "Hair Brush"),
        "Clothing": ("T-Shirt", "Hoodie", "Scarf", "Rain Jacket", "Sneakers", "Cap"),
        "Garden": ("Watering Can", "Planter", "Hose", "Pruning Shears", "Bird Feeder"),
    }
)
PRODUCT_STYLES: Final[tuple[str, ...]] = (
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Essential",
    "Premium",
    "Pro",
    "Smart",
    "Travel",
    "Vintage",
)


@dataclass(frozen=True, slots=True)
class User:
    """A registered user of the shop."""

    user_id: str
    name: str
    email: str
    city: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """A product of the shop as its dimension row describes it."""

    product_id: str
    name: str
    category: str
    list_price: Decimal


def entity_seed(kind: str, entity_id: str) -> int:
    """Return a seed that depends on the entity alone, the same in every process."""
    # Not hash(): string hashing is salted per process (PYTHONHASHSEED).
    digest = hashlib.sha256(f"{kind}:{entity_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _email_part(text: str) -> str:
    """Return ``text`` as lower-case ASCII letters and digits, for an email's local part."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def build_user(fake: Faker, user_id: str, registered_at: datetime) -> User:
    """Return the user ``user_id``; ``fake`` is reseeded from the id, so the rest is fixed by it."""
    fake.seed_instance(entity_seed("user", user_id))
    first, last = fake.first_name(), fake.last_name()
    # The id in the local part makes every email unique, whatever names collide.
    local = f"{_email_part(first)}.{_email_part(last)}.{user_id.lower()}"
    return User(
        user_id=user_id,
        name=f"{first} {last}",
        email=f"{local}@{fake.safe_domain_name()}",
        city=fake.city(),
        registered_at=registered_at,
    )


def signup_time(user_id: str, anchor: datetime) -> datetime:
    """Return when a user of the initial population registered: a fixed age before ``anchor``."""
    rng = random.Random(f"signup:{user_id}")
    one_ms = timedelta(milliseconds=1)
    return anchor - rng.randint(MIN_SIGNUP_AGE // one_ms, MAX_SIGNUP_AGE // one_ms) * one_ms


def build_product(fake: Faker, product: Product) -> ProductInfo:
    """Return the dimension row of ``product``; ``fake`` is reseeded from the id."""
    fake.seed_instance(entity_seed("product", product.product_id))
    category = fake.random_element(tuple(PRODUCT_KINDS))
    style = fake.random_element(PRODUCT_STYLES)
    kind = fake.random_element(PRODUCT_KINDS[category])
    return ProductInfo(
        product_id=product.product_id,
        name=f"{style} {fake.safe_color_name().title()} {kind}",
        category=category,
        # The catalog's price, which events of either mode carry: one price per product.
        list_price=product.price,
    )


def new_user_id(index: int) -> str:
    """Return the user id of position ``index`` in the new users' order (wrapping at the space)."""
    multiplier, shift = FIRST_STEP
    number = (multiplier * index + shift) % USER_ID_SPACE
    number = int(f"{number:0{USER_ID_DIGITS}d}"[::-1])
    multiplier, shift = SECOND_STEP
    number = (multiplier * number + shift) % USER_ID_SPACE
    return f"{USER_ID_PREFIX}{number:0{USER_ID_DIGITS}d}"


def new_user_ids(
    offset: int, position: int, count: int, taken: Container[str]
) -> tuple[tuple[str, ...], int]:
    """Return up to ``count`` new user ids from ``position`` on, and the position after them."""
    ids: list[str] = []
    # One lap of the space at most: after it every id has been handed out once.
    while len(ids) < count and position < USER_ID_SPACE:
        user_id = new_user_id(offset + position)
        position += 1
        if user_id not in taken:
            ids.append(user_id)
    return tuple(ids), position


def user_row(user: User) -> tuple[str, ...]:
    """Return the CSV fields of a user, in ``USER_COLUMNS`` order."""
    return (user.user_id, user.name, user.email, user.city, format_event_time(user.registered_at))


def product_row(product: ProductInfo) -> tuple[str, ...]:
    """Return the CSV fields of a product, in ``PRODUCT_COLUMNS`` order."""
    return (product.product_id, product.name, product.category, f"{product.list_price:.2f}")


def user_csv_rows(users: Iterable[User]) -> Iterator[tuple[str, ...]]:
    """Yield the users header, then one row per user."""
    yield USER_COLUMNS
    for user in users:
        yield user_row(user)


def product_csv_rows(products: Iterable[ProductInfo]) -> Iterator[tuple[str, ...]]:
    """Yield the products header, then one row per product."""
    yield PRODUCT_COLUMNS
    for product in products:
        yield product_row(product)
