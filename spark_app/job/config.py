"""Configuration: one frozen object built once from the environment and the command line."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mysql.connector.constants import ClientFlag

# Connector/J and MariaDB Connector/J both speak jdbc:mysql:; the first found is used.
KNOWN_JDBC_DRIVERS = ("com.mysql.cj.jdbc.Driver", "org.mariadb.jdbc.Driver")

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class MySQLSettings:
    """Where the sink lives. The password is never part of repr() or of any URL."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:mysql://{self.host}:{self.port}/{self.database}"

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def connector_args(self) -> dict[str, object]:
        """Keyword arguments for mysql.connector.connect."""
        return {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "user": self.user,
            "password": self.password,
            "connection_timeout": 10,
            "autocommit": False,
            # Without FOUND_ROWS a no-op duplicate update counts 0 rows: rowcount = inserted.
            "client_flags": [-ClientFlag.FOUND_ROWS],
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for a batch whose database work fails."""

    retries: int = 3
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 60.0


@dataclass(frozen=True)
class JdbcTuning:
    """Knobs of the executors' staging write."""

    batch_size: int = 10_000
    rewrite_batched_statements: bool = True
    # 0 keeps the batch's own partitioning; N caps concurrent connections to N per batch.
    write_partitions: int = 0
    driver_class: str | None = None


@dataclass(frozen=True)
class StreamSettings:
    """The file source, its trigger and its checkpoint."""

    input_dir: str = "streaming_data"
    checkpoint_dir: str = "checkpoints/events"
    available_now: bool = False
    max_files_per_trigger: int = 1
    trigger_interval: float = 0.5
    archive_dir: str | None = None
    archive_retention_hours: float = 168.0


@dataclass(frozen=True)
class AppConfig:
    """Everything the job needs, built once in main()."""

    mysql: MySQLSettings
    stream: StreamSettings
    retry: RetryPolicy
    jdbc: JdbcTuning
    log_level: str = "INFO"


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of `spark-submit spark_app/main.py`."""
    parser = argparse.ArgumentParser(
        prog="spark-submit spark_app/main.py",
        description="Stream CSV event files from a folder into MySQL, exactly once.",
        epilog="Connection: MYSQL_HOST, MYSQL_PORT, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD.",
    )
    defaults = StreamSettings()
    parser.add_argument("--input-dir", default=defaults.input_dir, help="folder to watch")
    parser.add_argument(
        "--checkpoint-dir", default=defaults.checkpoint_dir, help="Spark checkpoint folder"
    )
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="process the files already there, then exit 0",
    )
    parser.add_argument(
        "--max-files-per-trigger",
        type=positive_int,
        default=defaults.max_files_per_trigger,
        help="files per micro-batch (raise it to catch up on a backlog)",
    )
    parser.add_argument(
        "--trigger-interval",
        type=_non_negative_float,
        default=defaults.trigger_interval,
        help="seconds between micro-batch starts (0: back to back)",
    )
    parser.add_argument(
        "--archive-dir",
        default=None,
        help="move processed files here (Spark cleanSource=archive); default: leave them",
    )
    parser.add_argument(
        "--archive-retention-hours",
        type=_non_negative_float,
        default=defaults.archive_retention_hours,
        help="delete archived files older than this (local archive folders; 0: keep all)",
    )
    tuning = JdbcTuning()
    parser.add_argument("--jdbc-batch-size", type=positive_int, default=tuning.batch_size)
    parser.add_argument(
        "--rewrite-batched-statements",
        action=argparse.BooleanOptionalAction,
        default=tuning.rewrite_batched_statements,
        help="send each JDBC batch as one multi-row INSERT (default: on)",
    )
    parser.add_argument(
        "--write-partitions",
        type=non_negative_int,
        default=tuning.write_partitions,
        help="JDBC connections per batch (0: one per input partition)",
    )
    retry = RetryPolicy()
    parser.add_argument("--retries", type=non_negative_int, default=None)
    parser.add_argument("--retry-base-delay", type=_non_negative_float, default=None)
    parser.add_argument("--retry-multiplier", type=_non_negative_float, default=None)
    parser.set_defaults(
        retry_defaults=(retry.retries, retry.base_delay, retry.multiplier),
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def env_number(
    environ: Mapping[str, str], key: str, kind: type[float], default: float, minimum: float = 0
) -> float:
    """A number from the environment (default when unset); errors name the variable."""
    text = environ.get(key, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {text!r}") from None
    if not value >= minimum:  # NaN too
        raise ConfigError(f"{key} must be >= {minimum:g}, got {text!r}")
    return value


def mysql_from_env(environ: Mapping[str, str]) -> MySQLSettings:
    """Connection settings from MYSQL_* variables; errors name the variable."""
    database = environ.get("MYSQL_DATABASE", "").strip()
    user = environ.get("MYSQL_USER", "").strip()
    for key, value in (("MYSQL_DATABASE", database), ("MYSQL_USER", user)):
        if not value:
            raise ConfigError(f"{key} is not set")
    if not _IDENTIFIER.match(database):
        raise ConfigError(f"MYSQL_DATABASE must be 1-64 letters, digits or _, got {database!r}")
    port_text = environ.get("MYSQL_PORT", "3306").strip() or "3306"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"MYSQL_PORT must be a port number, got {port_text!r}")
    host = environ.get("MYSQL_HOST", "127.0.0.1").strip() or "127.0.0.1"
    if not re.match(r"^[A-Za-z0-9_.:\-\[\]]+$", host):
        raise ConfigError(f"MYSQL_HOST is not a host name or address: {host!r}")
    return MySQLSettings(
        host=host,
        port=int(port_text),
        database=database,
        user=user,
        password=environ.get("MYSQL_PASSWORD", ""),
    )


def load_config(argv: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Parse flags (argparse exits 2 on a bad one) and the environment into an AppConfig."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    retries, base_delay, multiplier = args.retry_defaults
    retry = RetryPolicy(
        retries=args.retries
        if args.retries is not None
        else int(env_number(env, "SINK_RETRIES", int, retries)),
        base_delay=args.retry_base_delay
        if args.retry_base_delay is not None
        else env_number(env, "SINK_RETRY_BASE_SECONDS", float, base_delay),
        multiplier=args.retry_multiplier
        if args.retry_multiplier is not None
        else env_number(env, "SINK_RETRY_MULTIPLIER", float, multiplier),
    )
    driver = env.get("JDBC_DRIVER", "").strip() or None
    return AppConfig(
        mysql=mysql_from_env(env),
        stream=StreamSettings(
            input_dir=args.input_dir,
            checkpoint_dir=args.checkpoint_dir,
            available_now=args.available_now,
            max_files_per_trigger=args.max_files_per_trigger,
            trigger_interval=args.trigger_interval,
            archive_dir=args.archive_dir,
            archive_retention_hours=args.archive_retention_hours,
        ),
        retry=retry,
        jdbc=JdbcTuning(
            batch_size=args.jdbc_batch_size,
            rewrite_batched_statements=args.rewrite_batched_statements,
            write_partitions=args.write_partitions,
            driver_class=driver,
        ),
        log_level=args.log_level,
    )
