"""Configuration of the job: one frozen object built once from the environment and the flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spark_app.common.database import (
    SINKS,
    DatabaseSettings,
    SettingsError,
    settings_from_env,
)
from spark_app.common.numbers import (
    NumberError,
    env_number,
    non_negative_float,
    number_arg,
    positive_int,
)
from spark_app.parse.pieces import PIECE_BYTES
from spark_app.sink.committer import RetryPolicy


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


# About 27,000 years: wider than the span of any two modification times.
UNLIMITED_FILE_AGE_DAYS = 10_000_000.0


@dataclass(frozen=True)
class StreamSettings:
    """The file source, its trigger and its checkpoint."""

    input_dir: str = "streaming_data"
    checkpoint_dir: str = "checkpoints/events"
    available_now: bool = False
    # None: every file that has arrived, up to max_bytes_per_trigger (at least one file), so
    # that files dropped together are committed together.
    max_files_per_trigger: int | None = None
    max_bytes_per_trigger: int = 256 << 20
    # What one task reads of a file at once: a larger file is read in pieces of this size.
    piece_bytes: int = PIECE_BYTES
    # A file waits half of this on average before its batch starts: freshness vs the idle
    # listing's CPU (about 7 % of a core at 0.1 s, 3 % at 0.25 s on a 2-core machine).
    trigger_interval: float = 0.1
    archive_dir: str | None = None
    archive_retention_hours: float = 168.0
    # Spark skips files older than this relative to the newest file it has seen. A file may
    # carry any time (1970, or 2200 from a clock far ahead) and must still be read, so by
    # default the window is wider than any two file times can be apart.
    max_file_age_days: float | None = None

    @property
    def max_file_age_seconds(self) -> float:
        days = UNLIMITED_FILE_AGE_DAYS if self.max_file_age_days is None else self.max_file_age_days
        return days * 86_400


@dataclass(frozen=True)
class AppConfig:
    """Everything the job needs, built once in main()."""

    database: DatabaseSettings
    stream: StreamSettings
    retry: RetryPolicy
    log_level: str = "INFO"


def _add_stream_flags(parser: argparse.ArgumentParser) -> None:
    defaults = StreamSettings()
    parser.add_argument("--input-dir", default=defaults.input_dir, help="folder to watch")
    parser.add_argument(
        "--checkpoint-dir", default=defaults.checkpoint_dir, help="Spark checkpoint folder"
    )
    parser.add_argument(
        "--available-now", action="store_true", help="process the files there, then exit 0"
    )
    parser.add_argument(
        "--max-files-per-trigger",
        type=positive_int,
        default=defaults.max_files_per_trigger,
        help="files per micro-batch (default: every file that has arrived, up to"
        " --max-bytes-per-trigger)",
    )
    parser.add_argument(
        "--max-bytes-per-trigger",
        type=positive_int,
        default=defaults.max_bytes_per_trigger,
        help="bytes of files per micro-batch when --max-files-per-trigger is not given"
        " (at least one file)",
    )
    parser.add_argument(
        "--piece-bytes",
        type=number_arg(int, minimum=1 << 20),
        default=defaults.piece_bytes,
        help="a file larger than this is read in pieces of this size (memory per task)",
    )
    parser.add_argument(
        "--trigger-interval",
        type=non_negative_float,
        default=defaults.trigger_interval,
        help="seconds between micro-batch starts (0: back to back)",
    )
    parser.add_argument(
        "--archive-dir", default=None, help="move processed files here (cleanSource=archive)"
    )
    parser.add_argument(
        "--archive-retention-hours",
        type=non_negative_float,
        default=defaults.archive_retention_hours,
        help="delete archived files older than this (local archive folders; 0: keep all)",
    )
    parser.add_argument(
        "--max-file-age-days",
        type=number_arg(float, above=0),
        default=defaults.max_file_age_days,
        help="files older than this relative to the newest seen are skipped (Spark"
        " maxFileAge; default: none is skipped)",
    )
    parser.add_argument(
        "--background-commit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="accepted for compatibility: a batch's reading and loading now overlap inside"
        " the batch",
    )


def _add_retry_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retries", type=number_arg(int, minimum=0), default=None)
    parser.add_argument("--retry-base-delay", type=number_arg(float, above=0), default=None)
    parser.add_argument("--retry-multiplier", type=number_arg(float, minimum=1), default=None)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `spark-submit spark_app/main.py`."""
    parser = argparse.ArgumentParser(
        prog="spark-submit spark_app/main.py",
        description="Stream CSV files from a folder into MySQL or PostgreSQL, exactly once.",
        epilog="Connection: MYSQL_HOST, MYSQL_PORT, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD"
        " (--sink mysql) or PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD (--sink postgresql).",
    )
    parser.add_argument("--sink", choices=SINKS, default="mysql", help="the database to fill")
    _add_stream_flags(parser)
    _add_retry_flags(parser)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def _retry_policy(args: argparse.Namespace, env: Mapping[str, str]) -> RetryPolicy:
    """Flags win over SINK_RETRY* variables, which win over the defaults."""
    default = RetryPolicy()
    return RetryPolicy(
        retries=args.retries
        if args.retries is not None
        else int(env_number(env, "SINK_RETRIES", int, default.retries)),
        base_delay=args.retry_base_delay
        if args.retry_base_delay is not None
        else env_number(env, "SINK_RETRY_BASE_SECONDS", float, default.base_delay, above=0),
        multiplier=args.retry_multiplier
        if args.retry_multiplier is not None
        else env_number(env, "SINK_RETRY_MULTIPLIER", float, default.multiplier, minimum=1),
    )


def load_config(argv: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Parse flags (argparse exits 2 on a bad one) and the environment into an AppConfig."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    try:
        database = settings_from_env(args.sink, env)
        retry = _retry_policy(args, env)
    except (SettingsError, NumberError) as exc:
        raise ConfigError(str(exc)) from None
    return AppConfig(
        database=database,
        stream=StreamSettings(
            input_dir=args.input_dir,
            checkpoint_dir=args.checkpoint_dir,
            available_now=args.available_now,
            max_files_per_trigger=args.max_files_per_trigger,
            max_bytes_per_trigger=args.max_bytes_per_trigger,
            piece_bytes=args.piece_bytes,
            trigger_interval=args.trigger_interval,
            archive_dir=args.archive_dir,
            archive_retention_hours=args.archive_retention_hours,
            max_file_age_days=args.max_file_age_days,
        ),
        retry=retry,
        log_level=args.log_level,
    )
