"""Command line of the event generator: parse flags, seed, drop files until told to stop."""

import argparse
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Final

from faker import Faker

from generator.entities import (
    USER_ID_SPACE,
    build_product,
    build_user,
    new_user_ids,
    product_csv_rows,
    signup_time,
    user_csv_rows,
)
from generator.funnel import Shoppers, make_funnel_events, register
from generator.records import Catalog, Event, build_catalog, csv_rows, make_events, write_csv
from generator.writer import FileDropper
from spark_app.common.numbers import number_arg

logger = logging.getLogger(__name__)

# With --seed, event times come from this virtual clock, not the wall clock, so runs repeat.
VIRTUAL_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)
# The longest a stop signal waits to be noticed while sleeping between files.
STOP_POLL_SECONDS: Final = 0.05
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
# "dim_" sorts before "events_": a dimension file and the events file after it that share a
# modification time still arrive in write order (modification time, then name).
USERS_PREFIX: Final = "dim_users"
PRODUCTS_PREFIX: Final = "dim_products"
# Users signing up during the run, per events file. A fixed number, not a drawn one, so new
# user k always signs up with events file k // NEW_USERS_PER_FILE whatever the seed.
NEW_USERS_PER_FILE: Final = 3


@dataclass(frozen=True, slots=True)
class Settings:
    """The generator's settings, built once from the command line."""

    output_dir: Path
    interval: float
    events_per_file: int
    files: int | None
    duration: float | None
    seed: int | None
    null_user_rate: float
    log_level: str
    entities: bool = False


@dataclass(frozen=True, slots=True)
class RunStats:
    """What a run produced."""

    files: int
    events: int
    null_users: int
    elapsed: float
    users: int = 0
    products: int = 0


# The project's one number parser (spark_app.common.numbers, free of Spark): NaN, infinities
# and values out of range are refused with the same words as every other command.
_non_negative_float = number_arg(float, minimum=0)
_positive_float = number_arg(float, above=0)
_positive_int = number_arg(int, minimum=1)
_rate = number_arg(float, minimum=0, maximum=1)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m generator``."""
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Drop CSV files of fake shop events into a folder, one file per interval.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("streaming_data"),
        metavar="DIR",
        help="folder to drop files into, created if missing (default: %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=_non_negative_float,
        default=20.0,
        metavar="SECONDS",
        help="seconds between files, 0 for no wait (default: %(default)s)",
    )
    parser.add_argument(
        "--events-per-file",
        type=_positive_int,
        default=21,
        metavar="N",
        help="events in each file (default: %(default)s)",
    )
    parser.add_argument(
        "--files",
        type=_positive_int,
        metavar="N",
        help="stop after N files (default: no limit)",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after that many seconds (default: no limit)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed for reproducible file contents, event times included (default: random)",
    )
    parser.add_argument(
        "--null-user-rate",
        type=_rate,
        default=0.05,
        metavar="F",
        help="share of events with an empty user_id, within [0, 1] (default: %(default)s)",
    )
    parser.add_argument(
        "--entities",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also drop users and products files, and make events follow each user's funnel "
        "(default: off)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="INFO",
        help="logging level (default: %(default)s)",
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Parse the command line into Settings; argparse exits with code 2 on a bad value."""
    args = build_parser().parse_args(argv)
    return Settings(
        output_dir=args.output_dir,
        interval=args.interval,
        events_per_file=args.events_per_file,
        files=args.files,
        duration=args.duration,
        seed=args.seed,
        null_user_rate=args.null_user_rate,
        log_level=args.log_level,
        entities=args.entities,
    )


class StopSignal:
    """SIGINT or SIGTERM, recorded and honoured between files; it also cuts the wait short."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.signal_name is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: only record the request, the loop ends at the next file boundary."""
        self.signal_name = signal.Signals(signum).name

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, returning within a short poll once a stop is requested."""
        # Polling, because threading.Event.set() in a signal handler can deadlock when the
        # signal lands while the main thread holds the Event's internal lock inside wait().
        deadline = time.monotonic() + seconds
        while not self.requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, STOP_POLL_SECONDS))


@contextmanager
def stop_on_signals(stop: StopSignal) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``stop``, restoring the previous handlers afterwards."""
    if threading.current_thread() is not threading.main_thread():
        # Python only lets the main thread install handlers; elsewhere run without them.
        yield
        return
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def seeded_sources(seed: int | None) -> tuple[Faker, random.Random]:
    """Return the Faker and random.Random all randomness comes from, both from ``seed``."""
    rng = random.Random(seed)
    fake = Faker()
    # Seeding Faker from rng rather than with the same seed keeps the two streams unrelated.
    fake.seed_instance(rng.getrandbits(64))
    return fake, rng


def virtual_time(files_done: int, interval: float, last_event_time: datetime | None) -> datetime:
    """Return the seeded run's clock for the next file: one interval per file from the epoch."""
    moment = VIRTUAL_EPOCH + timedelta(seconds=files_done * interval)
    if last_event_time is not None:
        # Keep time moving forward even when a file spans more than the interval (or it is 0).
        moment = max(moment, last_event_time + timedelta(milliseconds=1))
    return moment


@dataclass(frozen=True, slots=True)
class Population:
    """The --entities state between events files: the shoppers and where new user ids go on."""

    # Reseeded from each entity's id; kept apart from the events' Faker, which it would reset.
    fake: Faker
    shoppers: Shoppers
    # The initial population's ids: new users skip them.
    taken: frozenset[str]
    offset: int
    position: int = 0


def open_shop(
    settings: Settings,
    entity_fake: Faker,
    rng: random.Random,
    catalog: Catalog,
    dropper: FileDropper,
) -> Population:
    """Drop the products file and the initial users file; return the population they start."""
    # Seeded, the population signed up before the virtual epoch; otherwise before that epoch or
    # before now, whichever is earlier, so each id keeps one signup time across runs.
    anchor = VIRTUAL_EPOCH if settings.seed is not None else min(VIRTUAL_EPOCH, datetime.now(UTC))
    products = [build_product(entity_fake, product) for product in catalog.products]
    path = dropper.drop(partial(write_csv, rows=product_csv_rows(products)), prefix=PRODUCTS_PREFIX)
    logger.info("dropped %s (%d products)", path.name, len(products))
    users = [build_user(entity_fake, uid, signup_time(uid, anchor)) for uid in catalog.users]
    path = dropper.drop(partial(write_csv, rows=user_csv_rows(users)), prefix=USERS_PREFIX)
    logger.info("dropped %s (%d users)", path.name, len(users))
    # Seeded runs hand out new ids from the start of their order, so they repeat; unseeded runs
    # start at a random place, so two of them rarely sign up one id at two different times.
    offset = 0 if settings.seed is not None else rng.randrange(USER_ID_SPACE)
    return Population(entity_fake, Shoppers(users=catalog.users), frozenset(catalog.users), offset)


def entity_batch(
    settings: Settings,
    fake: Faker,
    rng: random.Random,
    catalog: Catalog,
    population: Population,
    dropper: FileDropper,
    files_done: int,
    now: datetime,
) -> tuple[list[Event], Population]:
    """Sign up this file's new users, dropping their users file, then make its funnel events."""
    # Seeded, a new user signs up at the file's nominal time, which does not move with the seed.
    signup = now if settings.seed is None else virtual_time(files_done, settings.interval, None)
    new_ids, position = new_user_ids(
        population.offset, population.position, NEW_USERS_PER_FILE, population.taken
    )
    shoppers = population.shoppers
    if new_ids:
        users = [build_user(population.fake, user_id, signup) for user_id in new_ids]
        path = dropper.drop(partial(write_csv, rows=user_csv_rows(users)), prefix=USERS_PREFIX)
        logger.info("dropped %s (%d users)", path.name, len(users))
        shoppers = register(shoppers, new_ids)
    batch, shoppers = make_funnel_events(
        fake,
        rng,
        shoppers,
        catalog.products,
        settings.events_per_file,
        now,
        settings.null_user_rate,
    )
    return batch, replace(population, shoppers=shoppers, position=position)


def run(
    settings: Settings,
    fake: Faker,
    rng: random.Random,
    catalog: Catalog,
    dropper: FileDropper,
    stop: StopSignal,
    entity_fake: Faker | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RunStats:
    """Drop files until --files or --duration is reached or a stop is requested (``clock``
    measures the duration; ``stop.sleep`` waits between files)."""
    started = clock()
    deadline = None if settings.duration is None else started + settings.duration
    files = events = null_users = 0
    last_event_time: datetime | None = None
    population = None
    if entity_fake is not None:
        population = open_shop(settings, entity_fake, rng, catalog, dropper)
    while not stop.requested:
        if settings.seed is None:
            now = datetime.now(UTC)
        else:
            now = virtual_time(files, settings.interval, last_event_time)
        if population is None:
            batch = make_events(
                fake, rng, catalog, settings.events_per_file, now, settings.null_user_rate
            )
        else:
            batch, population = entity_batch(
                settings, fake, rng, catalog, population, dropper, files, now
            )
        path = dropper.drop(partial(write_csv, rows=csv_rows(batch)))
        batch_nulls = sum(event.user_id is None for event in batch)
        files += 1
        events += len(batch)
        null_users += batch_nulls
        last_event_time = batch[-1].event_time
        logger.info("dropped %s (%d events, %d null users)", path.name, len(batch), batch_nulls)

        if settings.files is not None and files >= settings.files:
            break
        wait = settings.interval
        if deadline is not None:
            wait = min(wait, deadline - clock())
        stop.sleep(wait)
        if deadline is not None and clock() >= deadline:
            break
    users = 0 if population is None else len(population.shoppers.users)
    products = 0 if population is None else len(catalog.products)
    return RunStats(files, events, null_users, clock() - started, users, products)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m generator`` and return its exit code."""
    settings = parse_settings(argv)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    fake, rng = seeded_sources(settings.seed)
    catalog = build_catalog()
    entity_fake = Faker() if settings.entities else None
    stop = StopSignal()
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        with stop_on_signals(stop):
            stats = run(
                settings, fake, rng, catalog, FileDropper(settings.output_dir), stop, entity_fake
            )
    except OSError as exc:
        logger.error("cannot write to %s: %s", settings.output_dir, exc)
        return 1
    if stop.signal_name is not None:
        logger.info("stopped by %s", stop.signal_name)
    if settings.entities:
        logger.info("dimension rows: %d users, %d products", stats.users, stats.products)
    rate = stats.events / stats.elapsed if stats.elapsed > 0 else 0.0
    logger.info(
        "done: %d files, %d events (%d null users) in %.2f s, %.1f events/s",
        stats.files,
        stats.events,
        stats.null_users,
        stats.elapsed,
        rate,
    )
    return 0
