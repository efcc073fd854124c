"""Settings from the environment and the command line."""

from __future__ import annotations

import pytest

from spark_app.job.config import ConfigError, load_config

ENV = {"MYSQL_DATABASE": "ingest", "MYSQL_USER": "app", "MYSQL_PASSWORD": "s3cret-value"}


def test_defaults_follow_the_contract() -> None:
    config = load_config([], ENV)
    assert (config.mysql.host, config.mysql.port) == ("127.0.0.1", 3306)
    assert config.stream.input_dir == "streaming_data"
    assert config.stream.checkpoint_dir == "checkpoints/events"
    assert config.stream.max_files_per_trigger == 1
    assert config.stream.available_now is False
    assert (config.retry.retries, config.retry.multiplier) == (3, 2.0)


def test_flags_override_defaults() -> None:
    config = load_config(
        ["--input-dir", "in", "--checkpoint-dir", "ck", "--available-now",
         "--max-files-per-trigger", "5", "--trigger-interval", "2", "--retries", "0"],
        ENV,
    )  # fmt: skip
    assert config.stream.input_dir == "in"
    assert config.stream.checkpoint_dir == "ck"
    assert config.stream.available_now is True
    assert config.stream.max_files_per_trigger == 5
    assert config.stream.trigger_interval == 2.0
    assert config.retry.retries == 0


def test_password_is_never_in_repr_or_url() -> None:
    settings = load_config([], ENV).mysql
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in settings.jdbc_url


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"MYSQL_USER": "app"}, "MYSQL_DATABASE"),
        ({"MYSQL_DATABASE": "ingest"}, "MYSQL_USER"),
        ({**ENV, "MYSQL_PORT": "x"}, "MYSQL_PORT"),
        ({**ENV, "MYSQL_DATABASE": "in`gest"}, "MYSQL_DATABASE"),
        ({**ENV, "SINK_RETRIES": "many"}, "SINK_RETRIES"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config([], env)


def test_bad_flag_exits_with_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_config(["--max-files-per-trigger", "0"], ENV)
    assert exit_info.value.code == 2


def test_jdbc_knobs_and_archive_flags() -> None:
    config = load_config(
        ["--jdbc-batch-size", "500", "--no-rewrite-batched-statements", "--write-partitions", "4",
         "--archive-dir", "done", "--archive-retention-hours", "24"],
        ENV,
    )  # fmt: skip
    assert (config.jdbc.batch_size, config.jdbc.write_partitions) == (500, 4)
    assert config.jdbc.rewrite_batched_statements is False
    assert (config.stream.archive_dir, config.stream.archive_retention_hours) == ("done", 24.0)
    assert load_config([], ENV).jdbc.rewrite_batched_statements is True
