"""Exactly once under crashes, replays, database outages and stop signals (real spark-submit)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from localmysql import AppAccount, LocalServer, free_port
from spark_app.sink.writer import PAUSE_AFTER_COMMIT_ENV, PAUSE_BEFORE_COMMIT_ENV
from tests import dbread
from tests.helpers import (
    assert_sink_matches,
    count,
    generate,
    kill_group,
    run_stream,
    spark_submit,
    start_spark_submit,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_sigkill_at_several_moments_then_restart(
    app_env: dict[str, str], mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "stream.log"
    files = generate(app_env, drop, 6, 21, "--null-user-rate", "0.1")
    args = ("--input-dir", str(drop), "--checkpoint-dir", str(checkpoint), "--available-now")

    # 1. During batch 0's write: rows staged by the executors, the MySQL commit not yet done.
    stream = start_spark_submit({**app_env, PAUSE_BEFORE_COMMIT_ENV: "60"}, log, *args)
    wait_for(lambda: count(mysql_account, "events_staging") > 0, "rows staged")
    kill_group(stream)
    assert count(mysql_account, "events") == 0
    assert count(mysql_account, "ingest_batches") == 0

    # 2. After batch 0's MySQL commit, before Spark's checkpoint commit: it will be replayed.
    stream = start_spark_submit({**app_env, PAUSE_AFTER_COMMIT_ENV: "60"}, log, *args)
    wait_for(lambda: count(mysql_account, "ingest_batches") == 1, "batch 0 committed")
    kill_group(stream)
    assert not (checkpoint / "commits" / "0").exists()

    # 3. At whatever moment the stream is in right after its third commit.
    stream = start_spark_submit(app_env, log, *args)
    wait_for(lambda: count(mysql_account, "ingest_batches") >= 3, "batch 2 committed")
    kill_group(stream)

    # 4. A restart on the same checkpoint finishes the work.
    final = spark_submit(app_env, *args)
    assert final.returncode == 0, final.stdout[-3000:]
    output = log.read_text(errors="replace") + final.stdout
    assert "already committed, replay skipped" in output
    assert_sink_matches(mysql_account, files)
    print("SIGKILL survived: 3 (before the MySQL commit, after it, after batch 2)")
    batches = dbread.query(mysql_account, "SELECT batch_id, files FROM ingest_batches")
    # Every batch recorded once and every file counted once. A kill between Spark's source log
    # and its offset log can make the restart plan two files into one batch: fewer batches.
    assert sorted(row[0] for row in batches) == list(range(len(batches)))
    assert sum(row[1] for row in batches) == len(files)


def test_replayed_batch_changes_nothing(
    spark: SparkSession, app_env: dict[str, str], mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    files = generate(app_env, drop, 3, seed=5)
    run_stream(spark, mysql_account, drop, checkpoint, files=1)
    tables = ("events", "events_rejected", "ingest_batches")
    before = {t: dbread.query(mysql_account, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    # Forget that Spark committed the last two batches: the next run replays them.
    for batch in ("1", "2"):
        (checkpoint / "commits" / batch).unlink()
        (checkpoint / "commits" / f".{batch}.crc").unlink(missing_ok=True)
    run_stream(spark, mysql_account, drop, checkpoint, files=1)
    after = {t: dbread.query(mysql_account, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    assert after == before
    assert_sink_matches(mysql_account, files)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalServer]:
    """A server of this test alone, so that stopping it disturbs no other test."""
    server = LocalServer(tmp_path / "mysql", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_database_outage_is_retried_and_the_stream_goes_on(
    app_env: dict[str, str], own_server: LocalServer, tmp_path: Path
) -> None:
    account = own_server.create_account("ingest", "ingest_app")
    env = {
        **app_env,
        **account.environ(),
        "SINK_RETRIES": "8",
        "SINK_RETRY_BASE_SECONDS": "0.5",
        "SINK_RETRY_MULTIPLIER": "2",
        PAUSE_AFTER_COMMIT_ENV: "1",  # slows batches down so the outage falls mid-run
    }
    drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "stream.log"
    files = generate(env, drop, 6, seed=8)
    stream = start_spark_submit(
        env, log, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint), "--available-now"
    )
    try:
        wait_for(lambda: count(account, "ingest_batches") >= 2, "two batches committed")
        own_server.stop()
        time.sleep(4)
        own_server.start()
        assert stream.wait(300) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if stream.poll() is None:
            kill_group(stream)
    output = log.read_text(errors="replace")
    assert "retrying in" in output
    assert account.password not in output
    assert_sink_matches(account, files)
    print(f"server down 4 s mid-run: {output.count('retrying in')} retries, exit 0")


def test_outage_beyond_the_retry_budget_stops_clearly_and_restart_resumes(
    app_env: dict[str, str], own_server: LocalServer, tmp_path: Path
) -> None:
    account = own_server.create_account("ingest", "ingest_app")
    env = {
        **app_env,
        **account.environ(),
        "SINK_RETRIES": "2",
        "SINK_RETRY_BASE_SECONDS": "0.2",
        PAUSE_AFTER_COMMIT_ENV: "1",
    }
    drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "stream.log"
    files = generate(env, drop, 5, seed=9)
    args = ("--input-dir", str(drop), "--checkpoint-dir", str(checkpoint), "--available-now")
    stream = start_spark_submit(env, log, *args)
    try:
        wait_for(lambda: count(account, "ingest_batches") >= 1, "a batch committed")
        own_server.stop()
        assert stream.wait(300) == 1
    finally:
        if stream.poll() is None:
            kill_group(stream)
    output = log.read_text(errors="replace")
    assert output.count("giving up") == 1, output[-3000:]
    assert "failed 3 time(s)" in output
    assert account.password not in output

    own_server.start()
    env.pop(PAUSE_AFTER_COMMIT_ENV)
    resumed = spark_submit(env, *args)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert_sink_matches(account, files)


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(stat[1]) == parent:
                    found.append(int(entry.name))
                    frontier.append(int(entry.name))
    return found


@pytest.mark.parametrize("how", ["SIGTERM to spark-submit", "SIGINT to the process group"])
def test_stop_signal_ends_cleanly_and_restart_resumes(
    how: str, app_env: dict[str, str], mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "stream.log"
    staging = tmp_path / "staging"
    files = generate(app_env, staging, 8, seed=33)
    drop.mkdir()
    args = ("--input-dir", str(drop), "--checkpoint-dir", str(checkpoint))
    stream = start_spark_submit(app_env, log, *args)
    try:
        for path in files[:4]:  # a live stream, files arriving one by one
            shutil.copy(path, drop / f".{path.name}.tmp")
            os.replace(drop / f".{path.name}.tmp", drop / path.name)
            time.sleep(0.5)
        wait_for(lambda: count(mysql_account, "ingest_batches") >= 2, "batches committed")
        for pid in [stream.pid, *_descendants(stream.pid)]:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except FileNotFoundError:  # a short-lived helper process already gone
                continue
            assert mysql_account.password not in cmdline
        if how.startswith("SIGTERM"):
            stream.send_signal(signal.SIGTERM)
        else:
            os.killpg(stream.pid, signal.SIGINT)
        assert stream.wait(120) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if stream.poll() is None:
            kill_group(stream)
    assert "stream stopped cleanly" in log.read_text(errors="replace")

    for path in files[4:]:
        shutil.copy(path, drop / path.name)
    resumed = spark_submit(app_env, *args, "--available-now")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert_sink_matches(mysql_account, files)
