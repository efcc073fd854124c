"""Generator -> drop folder -> Spark stream -> MySQL, against a private server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from generator import cli as generator_cli
from localmysql import AppAccount
from spark_app import db
from spark_app.config import JdbcTuning, RetryPolicy, StreamSettings, mysql_from_env
from spark_app.main import find_jdbc_driver
from spark_app.sink import SinkContext
from spark_app.stream import start_query
from tests import dbread
from tests.conftest import REPO
from tests.oracle import expected_for

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time\n"


def run_stream(
    spark: SparkSession, account: AppAccount, input_dir: Path, checkpoint: Path, files: int = 2
) -> None:
    """Ingest what is in `input_dir` with availableNow, in this process."""
    settings = mysql_from_env(account.environ())
    db.apply_schema(settings)
    context = SinkContext(
        mysql=settings,
        jdbc=JdbcTuning(),
        retry=RetryPolicy(retries=0),
        driver_class=find_jdbc_driver(spark, None),
        run_id="test",
    )
    stream = StreamSettings(
        input_dir=str(input_dir),
        checkpoint_dir=str(checkpoint),
        available_now=True,
        max_files_per_trigger=files,
    )
    query = start_query(spark, stream, context)
    try:
        query.awaitTermination(300)
    finally:
        query.stop()
    assert query.exception() is None


def assert_sink_matches(account: AppAccount, files: list[Path]) -> None:
    """events, events_rejected and the accounting equal the oracle's reading of `files`."""
    expected = expected_for(files)
    assert dbread.events(account) == expected.events
    assert dbread.rejected(account) == expected.rejected
    read, written, duplicates, rejected = dbread.totals(account)
    assert (read, written, duplicates, rejected) == (
        expected.read,
        len(expected.events),
        expected.duplicates,
        len(expected.rejected),
    )
    assert read == written + duplicates + rejected


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


def spark_submit(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real `spark-submit spark_app/main.py ...`, from the repository root."""
    # Spark merges the Python driver's stderr into its stdout: read them as one stream.
    return subprocess.run(
        ["spark-submit", "spark_app/main.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_real_commands_end_to_end(
    app_env: dict[str, str], mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    generated = subprocess.run(
        [sys.executable, "-m", "generator", "--files", "3", "--interval", "0",
         "--output-dir", str(drop), "--seed", "3"],
        cwd=REPO, env=app_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    files = sorted(drop.glob("*.csv"))
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
