"""The job's settings from the environment and the command line (spark_app.job.config)."""

from __future__ import annotations

import pytest

from spark_app.job.config import ConfigError, RetryPolicy, StreamSettings, load_config

SECRET = "s3cret-value"
ENV = {"MYSQL_DATABASE": "ingest", "MYSQL_USER": "app", "MYSQL_PASSWORD": SECRET}
PG_ENV = {"PGDATABASE": "events", "PGUSER": "pgapp", "PGPASSWORD": SECRET, "PGPORT": "6543"}


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The message of a flag argparse refuses (exit code 2)."""
    with pytest.raises(SystemExit) as exit_info:
        load_config(argv, ENV)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_defaults_follow_the_contract() -> None:
    config = load_config([], ENV)
    database = config.database
    assert (database.kind, database.host, database.port) == ("mysql", "127.0.0.1", 3306)
    assert (database.database, database.user) == ("ingest", "app")
    assert config.stream == StreamSettings(
        input_dir="streaming_data",
        checkpoint_dir="checkpoints/events",
        available_now=False,
        max_files_per_trigger=None,
        max_bytes_per_trigger=256 << 20,
        piece_bytes=8 << 20,
        trigger_interval=0.1,
        archive_dir=None,
        archive_retention_hours=168.0,
        max_file_age_days=None,
    )
    # Every file that has arrived is admitted, whatever its age relative to the others.
    assert config.stream.max_file_age_seconds > 10_000 * 365 * 86_400
    assert config.retry == RetryPolicy(retries=3, base_delay=1.0, multiplier=2.0)
    assert config.log_level == "INFO"


def test_flags_override_defaults() -> None:
    config = load_config(
        ["--input-dir", "in", "--checkpoint-dir", "ck", "--available-now",
         "--max-files-per-trigger", "5", "--trigger-interval", "0", "--archive-dir", "done",
         "--archive-retention-hours", "24", "--max-file-age-days", "7.5",
         "--max-bytes-per-trigger", "1000", "--piece-bytes", "2000000", "--log-level", "DEBUG"],
        ENV,
    )  # fmt: skip
    assert config.stream == StreamSettings(
        input_dir="in",
        checkpoint_dir="ck",
        available_now=True,
        max_files_per_trigger=5,
        max_bytes_per_trigger=1000,
        piece_bytes=2_000_000,
        trigger_interval=0.0,
        archive_dir="done",
        archive_retention_hours=24.0,
        max_file_age_days=7.5,
    )
    assert config.log_level == "DEBUG"


def test_sink_postgresql_reads_the_libpq_variables() -> None:
    config = load_config(["--sink", "postgresql"], {**ENV, **PG_ENV})
    database = config.database
    assert (database.kind, database.port, database.database, database.user) == (
        "postgresql",
        6543,
        "events",
        "pgapp",
    )


def test_sink_postgresql_needs_its_own_variables() -> None:
    with pytest.raises(ConfigError, match="PGDATABASE is not set"):
        load_config(["--sink", "postgresql"], ENV)


def test_password_is_never_in_repr() -> None:
    for config in (load_config([], ENV), load_config(["--sink", "postgresql"], PG_ENV)):
        assert config.database.password == SECRET
        assert SECRET not in repr(config)
        assert SECRET not in config.database.address


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"MYSQL_USER": "app"}, "MYSQL_DATABASE"),
        ({"MYSQL_DATABASE": "ingest"}, "MYSQL_USER"),
        ({**ENV, "MYSQL_PORT": "x"}, "MYSQL_PORT"),
        ({**ENV, "MYSQL_DATABASE": "in`gest"}, "MYSQL_DATABASE"),
        ({**ENV, "MYSQL_SSL_MODE": "maybe"}, "MYSQL_SSL_MODE"),
        ({**ENV, "SINK_RETRIES": "many"}, "SINK_RETRIES"),
        ({**ENV, "SINK_RETRIES": "-1"}, "SINK_RETRIES"),
        ({**ENV, "SINK_RETRY_BASE_SECONDS": "0"}, "SINK_RETRY_BASE_SECONDS"),
        ({**ENV, "SINK_RETRY_BASE_SECONDS": "nan"}, "SINK_RETRY_BASE_SECONDS"),
        ({**ENV, "SINK_RETRY_MULTIPLIER": "0"}, "SINK_RETRY_MULTIPLIER"),
        ({**ENV, "SINK_RETRY_MULTIPLIER": "0.5"}, "SINK_RETRY_MULTIPLIER"),
        ({**ENV, "SINK_RETRY_MULTIPLIER": "inf"}, "SINK_RETRY_MULTIPLIER"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key} "):
        load_config([], env)


def test_retry_policy_from_the_environment() -> None:
    env = {**ENV, "SINK_RETRIES": "5", "SINK_RETRY_BASE_SECONDS": "0.25",
           "SINK_RETRY_MULTIPLIER": "1"}  # fmt: skip
    assert load_config([], env).retry == RetryPolicy(retries=5, base_delay=0.25, multiplier=1.0)


def test_retry_flags_win_over_the_environment() -> None:
    env = {**ENV, "SINK_RETRIES": "5", "SINK_RETRY_BASE_SECONDS": "0.25",
           "SINK_RETRY_MULTIPLIER": "3"}  # fmt: skip
    argv = ["--retries", "0", "--retry-base-delay", "2", "--retry-multiplier", "1.5"]
    assert load_config(argv, env).retry == RetryPolicy(retries=0, base_delay=2.0, multiplier=1.5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--retry-multiplier", "0"], "argument --retry-multiplier: must be >= 1"),
        (["--retry-multiplier", "0.99"], "argument --retry-multiplier: must be >= 1"),
        (["--retry-multiplier", "nan"], "argument --retry-multiplier: must be a finite number"),
        (["--retry-base-delay", "0"], "argument --retry-base-delay: must be > 0"),
        (["--retry-base-delay", "-1"], "argument --retry-base-delay: must be > 0"),
        (["--retry-base-delay", "inf"], "argument --retry-base-delay: must be a finite number"),
        (["--retries", "-1"], "argument --retries: must be >= 0"),
        (["--retries", "1.5"], "argument --retries: must be a whole number"),
        (["--max-files-per-trigger", "0"], "argument --max-files-per-trigger: must be >= 1"),
        (["--trigger-interval", "-0.5"], "argument --trigger-interval: must be >= 0"),
        (["--archive-retention-hours", "nan"], "argument --archive-retention-hours: must be a"),
        (["--max-file-age-days", "0"], "argument --max-file-age-days: must be > 0"),
        (["--sink", "oracle"], "argument --sink: invalid choice: 'oracle'"),
        (["--log-level", "TRACE"], "argument --log-level: invalid choice"),
    ],
)
def test_bad_flags_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in usage_error(argv, capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["--jdbc-batch-size", "500"],
        ["--no-rewrite-batched-statements"],
        ["--write-partitions", "4"],
    ],
)
def test_the_jdbc_tuning_flags_are_gone(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"unrecognized arguments: {' '.join(argv)}" in usage_error(argv, capsys)
