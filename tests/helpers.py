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

from spark_app.job.config import StreamSettings
from spark_app.job.stream import read_ahead, start_query
from spark_app.sink import dialect_for
from spark_app.sink.committer import Committer, RetryPolicy
from tests.oracle import Expected, expected_for
from tests.sinks import SinkUnderTest

REPO = Path(__file__).resolve().parent.parent


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


def assert_batches_balance(sink: SinkUnderTest) -> None:
    """Per batch, each term counted on its own: read = written + duplicate + rejected, and the
    rejected and file counts match the rows that batch put in events_rejected and ingest_files."""
    batches = sink.query(
        "SELECT query_id, batch_id, rows_read, rows_written, rows_duplicate, rows_rejected, files"
        " FROM ingest_batches"
    )
    rejected = dict(
        ((q, b), n)
        for q, b, n in sink.query(
            "SELECT query_id, batch_id, COUNT(*) FROM events_rejected GROUP BY query_id, batch_id"
        )
    )
    files = dict(
        ((q, b), n)
        for q, b, n in sink.query(
            "SELECT query_id, batch_id, COUNT(*) FROM ingest_files GROUP BY query_id, batch_id"
        )
    )
    events = dict(
        ((q, b), n)
        for q, b, n in sink.query(
            "SELECT query_id, batch_id, COUNT(*) FROM events GROUP BY query_id, batch_id"
        )
    )
    for query_id, batch_id, read, written, duplicate, rejected_rows, file_count in batches:
        key = (query_id, batch_id)
        assert read == written + duplicate + rejected_rows, key
        assert rejected_rows == rejected.get(key, 0), key
        assert file_count == files.get(key, 0), key
        assert written >= events.get(key, 0), key


def assert_sink_matches(sink: SinkUnderTest, files: list[Path]) -> Expected:
    """Every table equals the oracle's reading of `files`; accounting holds per batch."""
    expected = expected_for(files)
    assert sink.events() == expected.events
    assert sink.rejected() == expected.rejected
    read, written, duplicates, rejected = sink.totals()
    dimension_rows = sum(
        int(row[0])
        for row in sink.query(
            "SELECT COALESCE(SUM(users_upserted + products_upserted), 0) FROM ingest_batches"
        )
    )
    assert (read, written - dimension_rows, duplicates, rejected) == (
        expected.read,
        len(expected.events),
        expected.duplicates,
        len(expected.rejected),
    )
    assert_batches_balance(sink)
    assert sink.count("ingest_files") == expected.files, sink.query(
        "SELECT batch_id, source_file, records FROM ingest_files ORDER BY batch_id, source_file"
    )
    assert sink.per_minute() == sink.per_minute_from_events() == expected.per_minute()
    users = {
        row[0]: None if row[5] else (row[1], row[2], row[3], row[4])
        for row in sink.query(
            "SELECT user_id, name, email, city, registered_at, is_placeholder FROM users"
        )
    }
    assert users == expected.users
    products = {
        row[0]: None if row[4] else (row[1], row[2], row[3])
        for row in sink.query(
            "SELECT product_id, name, category, list_price, is_placeholder FROM products"
        )
    }
    assert products == expected.products
    # Shown with `pytest -rP`: the figures behind docs/RELIABILITY.md.
    print(
        f"{sink.kind} equals oracle: {len(files)} files, {read} rows read, {written} written,"
        f" {duplicates} duplicates, {rejected} rejected; lost 0, doubled 0"
    )
    return expected


def run_stream(
    spark: SparkSession,
    sink: SinkUnderTest,
    input_dir: Path,
    checkpoint: Path,
    files: int = 2,
    *,
    insert_path: bool = False,
    piece_bytes: int | None = None,
) -> None:
    """Ingest what is in `input_dir` with availableNow, in this process, as the writer.
    `insert_path`: MySQL's INSERT fallback even where the server allows LOAD DATA LOCAL."""
    dialect = dialect_for(sink.settings("writer"))
    dialect.detect_write_path()
    if insert_path:
        dialect.use_load = False  # type: ignore[attr-defined]
    committer = Committer(dialect, RetryPolicy(retries=0), "test")
    stream = StreamSettings(
        input_dir=str(input_dir),
        checkpoint_dir=str(checkpoint),
        available_now=True,
        max_files_per_trigger=files,
        **({} if piece_bytes is None else {"piece_bytes": piece_bytes}),
    )
    ahead = read_ahead(stream)
    query = start_query(spark, stream, committer, ahead)
    try:
        query.awaitTermination(300)
    finally:
        query.stop()
        ahead.close()
        committer.close()
    assert query.exception() is None, query.exception()
