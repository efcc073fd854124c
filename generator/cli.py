"""Command line of the event generator: parse flags, seed, drop files until told to stop."""

import argparse
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Final

from faker import Faker

from generator.records import Catalog, build_catalog, csv_rows, make_events, write_csv
from generator.writer import FileDropper

logger = logging.getLogger(__name__)

# With --seed, event times come from this virtual clock, not the wall clock, so runs repeat.
VIRTUAL_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)
# The longest a stop request waits to be noticed while sleeping between files.
STOP_POLL_SECONDS: Final = 0.05
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


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


@dataclass(frozen=True, slots=True)
class RunStats:
    """What a run produced."""

    files: int
    events: int
    null_users: int
    elapsed: float


def _finite_float(text: str) -> float:
    """Parse a finite float, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    """Parse a float >= 0, for argparse."""
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    """Parse a float > 0, for argparse."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """Parse an int >= 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _rate(text: str) -> float:
    """Parse a share within [0, 1], for argparse."""
    value = _finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text!r}")
    return value


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
    )


class StopRequest:
    """A stop asked for by SIGINT or SIGTERM, honoured between files."""

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
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
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


def run(
    settings: Settings,
    fake: Faker,
    rng: random.Random,
    catalog: Catalog,
    dropper: FileDropper,
    stop: StopRequest,
) -> RunStats:
    """Drop files until --files or --duration is reached or a stop is requested."""
    started = time.monotonic()
    deadline = None if settings.duration is None else started + settings.duration
    files = events = null_users = 0
    last_event_time: datetime | None = None
    while not stop.requested:
        if settings.seed is None:
            now = datetime.now(UTC)
        else:
            now = virtual_time(files, settings.interval, last_event_time)
        batch = make_events(
            fake, rng, catalog, settings.events_per_file, now, settings.null_user_rate
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
            wait = min(wait, deadline - time.monotonic())
        stop.sleep(wait)
        if deadline is not None and time.monotonic() >= deadline:
            break
    return RunStats(files, events, null_users, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m generator`` and return its exit code."""
    settings = parse_settings(argv)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    fake, rng = seeded_sources(settings.seed)
    catalog = build_catalog()
    stop = StopRequest()
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        with stop_on_signals(stop):
            stats = run(settings, fake, rng, catalog, FileDropper(settings.output_dir), stop)
    except OSError as exc:
        logger.error("cannot write to %s: %s", settings.output_dir, exc)
        return 1
    if stop.signal_name is not None:
        logger.info("stopped by %s", stop.signal_name)
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
