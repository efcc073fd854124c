"""Helpers of the integration tests: real commands, waiting, and comparing the sink."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import SparkSession

from localmysql import AppAccount
from spark_app.job.config import JdbcTuning, RetryPolicy, StreamSettings, mysql_from_env
from spark_app.job.stream import start_query
from spark_app.main import find_jdbc_driver
from spark_app.sink import mysql as db
from spark_app.sink.writer import SinkContext
from tests import dbread
from tests.conftest import REPO
from tests.oracle import expected_for


def generate(env: dict[str, str], drop: Path, files: int, seed: int, *extra: str) -> list[Path]:
    """Run the real generator; returns the files it dropped, in order."""
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--files", str(files), "--interval", "0",
         "--output-dir", str(drop), "--seed", str(seed), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sorted(drop.glob("*.csv"))


def spark_submit(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real `spark-submit spark_app/main.py ...`, from the repository root, to the end."""
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


def start_spark_submit(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """spark-submit in the background, in its own process group, output to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            ["spark-submit", "spark_app/main.py", *args],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL spark-submit's JVM and its Python driver at once: a crash."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(60)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    """Poll until `condition` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def count(account: AppAccount, table: str) -> int:
    """Rows in one of the sink's tables (0 while it does not exist yet)."""
    try:
        return int(dbread.query(account, f"SELECT COUNT(*) FROM {table}")[0][0])
    except Exception:
        return 0


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
    assert count(account, "events_staging") == 0
    # Shown with `pytest -rP`: the figures behind docs/RELIABILITY.md.
    print(
        f"sink equals oracle: {len(files)} files, {read} rows read, {written} written,"
        f" {duplicates} duplicates, {rejected} rejected; lost 0, doubled 0"
    )


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
        context.close()
    assert query.exception() is None
