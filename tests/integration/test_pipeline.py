"""Generator -> drop folder -> Spark stream -> MySQL, against a private server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from generator import cli as generator_cli
from localmysql import AppAccount
from tests import dbread
from tests.helpers import assert_sink_matches, generate, run_stream, spark_submit

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time\n"


def test_stream_equals_oracle(
    spark: SparkSession, mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    assert generator_cli.main(
        ["--output-dir", str(drop), "--files", "4", "--interval", "0", "--seed", "11",
         "--null-user-rate", "0.2"]
    ) == 0  # fmt: skip
    generated = sorted(drop.glob("*.csv"))
    first_id = generated[0].read_text().splitlines()[1].split(",")[0]
    (drop / "zz_extra.csv").write_text(
        HEADER
        + f"{first_id},u-dup,p,view,1,2024-01-01T00:00:00Z\n"  # a duplicate of an earlier file
        + "x1,u1,p1,view,5.555,2024-05-01T10:00:00+02:00\n"
        + "x1,u2,p2,purchase,1,2024-05-01T10:00:00Z\n"  # a duplicate within the file
        + "x2,,p1,view,1,2024-05-01T10:00:00Z\n"
        + "x3,u1,p1,buy,1,2024-05-01T10:00:00Z\n"
    )
    run_stream(spark, mysql_account, drop, tmp_path / "checkpoint")
    assert_sink_matches(mysql_account, [*generated, drop / "zz_extra.csv"])
    assert dbread.events(mysql_account)["x1"][3:5] == (
        __import__("decimal").Decimal("5.56"),
        __import__("datetime").datetime(2024, 5, 1, 8, 0),
    )


def test_real_commands_end_to_end(
    app_env: dict[str, str], mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    files = generate(app_env, drop, 3, seed=3)
    assert len(files) == 3

    first = spark_submit(
        app_env, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint), "--available-now"
    )
    assert first.returncode == 0, first.stdout[-3000:]
    assert "batch 0:" in first.stdout, first.stdout[-5000:]
    assert app_env["MYSQL_PASSWORD"] not in first.stdout
    assert_sink_matches(mysql_account, files)

    # A restart on the same checkpoint finds nothing new and changes nothing.
    again = spark_submit(
        app_env, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint), "--available-now"
    )
    assert again.returncode == 0, again.stdout[-3000:]
    assert_sink_matches(mysql_account, files)


def test_bad_flag_is_one_clear_error(app_env: dict[str, str]) -> None:
    result = spark_submit(app_env, "--max-files-per-trigger", "zero")
    assert result.returncode == 2
    assert "--max-files-per-trigger" in result.stdout
    assert "Traceback" not in result.stdout and "Exception in thread" not in result.stdout


def test_unreachable_database_is_one_clear_error(app_env: dict[str, str], tmp_path: Path) -> None:
    from localmysql import free_port

    env = {**app_env, "MYSQL_PORT": str(free_port())}
    result = spark_submit(
        env, "--input-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")
    )
    assert result.returncode == 3, result.stdout[-3000:]
    assert "cannot use MySQL" in result.stdout
    assert "Traceback" not in result.stdout and "Exception in thread" not in result.stdout
    assert env["MYSQL_PASSWORD"] not in result.stdout


def test_missing_jdbc_driver_is_one_clear_error(app_env: dict[str, str], tmp_path: Path) -> None:
    # An empty Spark conf folder: no spark-defaults.conf to put jars/ on the classpath.
    env = {**app_env, "SPARK_CONF_DIR": str(tmp_path)}
    result = spark_submit(
        env, "--input-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")
    )
    assert result.returncode == 4, result.stdout[-3000:]
    assert "no MySQL JDBC driver" in result.stdout
    assert "Traceback" not in result.stdout
