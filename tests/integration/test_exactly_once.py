"""Exactly once under crashes, replays, database outages and stop signals (real spark-submit),
on both sinks, checked against the same oracle."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from pyspark.sql import SparkSession

from localmysql import LocalServer, free_port
from localpg import LocalPostgres
from spark_app.common.failpoints import ENV
from spark_app.job.session import CHECKPOINT_MANAGER, FILE_SYSTEM_CHECKPOINTS
from tests.conftest import postgres_base
from tests.dashboard_process import running_dashboard, sample, scrape
from tests.helpers import (
    assert_sink_matches,
    generate,
    kill_group,
    run_stream,
    spark_submit,
    start_spark_submit,
    wait_for,
)
from tests.sinks import SinkUnderTest, mysql_sink, postgresql_sink

pytestmark = pytest.mark.integration


def _password(sink: SinkUnderTest) -> str:
    return sink.writer["MYSQL_PASSWORD" if sink.kind == "mysql" else "PGPASSWORD"]


def _held(point: str, seconds: int = 120) -> dict[str, str]:
    """The environment that holds the stream at a named failpoint."""
    return {ENV: f"{point}=sleep({seconds})"}


class _KilledStream:
    """Generated files and `spark-submit --available-now` over them, killed at chosen moments
    and restarted on the same checkpoint."""

    def __init__(
        self, sink: SinkUnderTest, tmp_path: Path, *flags: str, generator: tuple[str, ...] = ()
    ) -> None:
        self.sink, self.env = sink, sink.env()
        drop, self.checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
        self.log = tmp_path / "stream.log"
        files = 6 if not generator else 2
        self.files = generate(self.env, drop, files, 21, "--null-user-rate", "0.1", *generator)
        self.args = (*sink.args, "--input-dir", str(drop), "--checkpoint-dir",
                     str(self.checkpoint), "--available-now", *flags)  # fmt: skip

    def logged(self, text: str, times: int = 1) -> bool:
        return self.log.exists() and self.log.read_text(errors="replace").count(text) >= times

    def crash(self, extra: dict[str, str], until: Callable[[], bool], what: str) -> None:
        """Start the stream with these failpoints, SIGKILL it once `until` holds."""
        stream = start_spark_submit({**self.env, **extra}, self.log, *self.args)
        try:
            wait_for(until, what, timeout=300)
        finally:
            kill_group(stream)

    def finish(self) -> str:
        """Restart to the end; check the sink against the oracle and every batch and file
        recorded once. Returns the output of every run."""
        final = spark_submit(self.env, *self.args)
        assert final.returncode == 0, final.stdout[-3000:]
        assert_sink_matches(self.sink, self.files)
        batches = self.sink.query("SELECT batch_id, files FROM ingest_batches")
        # A kill between Spark's source log and its offset log can make the restart plan two
        # files into one batch: fewer batches, but each file still counted once.
        assert sorted(row[0] for row in batches) == list(range(len(batches)))
        assert sum(row[1] for row in batches) == len(self.files)
        return self.log.read_text(errors="replace") + final.stdout


def test_sigkill_at_every_moment_then_restart(mysql: SinkUnderTest, tmp_path: Path) -> None:
    """One file per batch; the batch protocol is the same code on both sinks, and the large
    file's test below runs on both."""
    run = _KilledStream(mysql, tmp_path, "--max-files-per-trigger", "1")

    # 1. Batch 0 planned on the driver, its transaction not begun.
    run.crash(_held("batch-planned"),
              lambda: run.logged("failpoint batch-planned"), "batch 0 planned")  # fmt: skip
    assert mysql.count("events") == 0 and mysql.count("ingest_batches") == 0

    # 2. In the middle of the load: every row of batch 0 written, the transaction not committed.
    run.crash(_held("rows-written"),
              lambda: run.logged("failpoint rows-written"), "rows written")  # fmt: skip
    assert mysql.count("events") == 0 and mysql.count("ingest_batches") == 0

    # 3. After the database commit, before Spark commits its offsets: a replay follows.
    run.crash(_held("batch-committed"),
              lambda: mysql.count("ingest_batches") == 1, "batch 0 committed")  # fmt: skip
    assert not (run.checkpoint / "commits" / "0").exists()

    # 4. At whatever moment the stream is in right after its third commit.
    run.crash({}, lambda: mysql.count("ingest_batches") >= 3, "batch 2 committed")

    # 5. A restart on the same checkpoint finishes the work.
    assert "already committed, replay skipped" in run.finish()
    print(f"{mysql.kind}: SIGKILL before, inside and after the commit, and after batch 2")


def test_sigkill_inside_a_large_files_load_then_restart(
    sink: SinkUnderTest, tmp_path: Path
) -> None:
    """Two files of 60,000 events read in pieces of 1 MiB: the batch is loaded chunk by chunk
    in one transaction, and a kill between chunks leaves nothing of it."""
    run = _KilledStream(
        sink, tmp_path, "--piece-bytes", str(1 << 20),
        generator=("--events-per-file", "60000"),
    )  # fmt: skip
    assert all(path.stat().st_size > 3 << 20 for path in run.files)
    spills = tmp_path / "tmp"  # the driver's temporary folder: MySQL's sort spills there
    spills.mkdir()
    run.env["TMPDIR"] = str(spills)

    # 1. The first chunk written, the transaction open.
    run.crash(_held("chunk-written"),
              lambda: run.logged("failpoint chunk-written"), "a chunk written")  # fmt: skip
    assert sink.count("events") == 0 and sink.count("ingest_batches") == 0

    # 2. Later in the load, three chunks in.
    run.crash(_held("chunk-written", 1),
              lambda: run.logged("failpoint chunk-written", 5), "chunks written")  # fmt: skip
    assert sink.count("events") == 0 and sink.count("ingest_batches") == 0

    # 3. A restart on the same checkpoint loads it all, once.
    output = run.finish()
    assert sink.count("events") > 100_000
    assert "failpoint chunk-written" in output
    # InnoDB stores rows by key: MySQL gets a batch this large in event_id order, and what
    # the killed drivers spilled is gone after the restart.
    assert ("events written in event_id order" in output) == (sink.kind == "mysql")
    assert list(spills.glob("ingest-sort-*")) == []
    print(f"{sink.kind}: SIGKILL inside a 2-file, {sink.count('events')}-event load")


def test_replayed_batch_changes_nothing(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    _replay_changes_nothing(spark, sink, tmp_path, insert_path=False)


def test_replayed_batch_changes_nothing_on_the_insert_path(
    spark: SparkSession, mysql: SinkUnderTest, tmp_path: Path
) -> None:
    _replay_changes_nothing(spark, mysql, tmp_path, insert_path=True)
    assert {row[0] for row in mysql.query("SELECT write_path FROM ingest_batches")} == {"insert"}


def _replay_changes_nothing(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path, *, insert_path: bool
) -> None:
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    files = generate(sink.env(), drop, 3, 5, "--entities")
    run_stream(spark, sink, drop, checkpoint, files=1, insert_path=insert_path)
    tables = ("events", "events_rejected", "ingest_batches", "ingest_files", "users",
              "products", "events_per_minute")  # fmt: skip
    before = {t: sorted(sink.query(f"SELECT * FROM {t}")) for t in tables}
    # Forget that Spark committed the last two batches: the next run replays them.
    batches = sorted(int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit())
    for batch in batches[-2:]:
        (checkpoint / "commits" / str(batch)).unlink()
        (checkpoint / "commits" / f".{batch}.crc").unlink(missing_ok=True)
    run_stream(spark, sink, drop, checkpoint, files=1, insert_path=insert_path)
    after = {t: sorted(sink.query(f"SELECT * FROM {t}")) for t in tables}
    assert after == before
    assert_sink_matches(sink, files)


def test_a_quoted_file_larger_than_a_piece_streams_through_in_chunks(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    """A file with quoted fields (embedded newlines, commas, doubled quotes) cannot be cut at
    byte ranges: read whole, in order, and validated chunk by chunk between plain files."""
    drop = tmp_path / "drop"
    files = generate(sink.env(), drop, 3, 71, "--events-per-file", "6000")
    quoted = files[1]
    lines = quoted.read_bytes().split(b"\n")
    for index in range(1, len(lines), 3):
        fields = lines[index].split(b",")
        if len(fields) == 6:
            fields[2] = b'"' + fields[2] + b'\r\nsecond line, ""quoted"""'
            lines[index] = b",".join(fields)
    quoted.write_bytes(b"\n".join(lines))
    assert quoted.stat().st_size > 256 << 10
    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=3, piece_bytes=64 << 10)
    assert_sink_matches(sink, files)


def test_local_checkpoints_are_written_by_the_file_system_manager(
    spark: SparkSession, mysql: SinkUnderTest, tmp_path: Path
) -> None:
    """The session names Spark's FileSystem-based checkpoint manager by a class this Spark
    has, and a stream's checkpoint written through it restarts exactly."""
    chosen = spark.conf.get(CHECKPOINT_MANAGER)
    assert chosen in FILE_SYSTEM_CHECKPOINTS
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    assert jvm.java.lang.Class.forName(chosen).getSimpleName() == (
        "FileSystemBasedCheckpointFileManager"
    )
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    files = generate(mysql.env(), drop, 2, 73)
    run_stream(spark, mysql, drop, checkpoint, files=1)
    assert sorted(p.name for p in (checkpoint / "commits").iterdir() if p.name.isdigit()) == [
        "0",
        "1",
    ]
    files = generate(mysql.env(), drop, 1, 74, "--events-per-file", "5")  # all three
    assert len(files) == 3
    run_stream(spark, mysql, drop, checkpoint, files=1)
    assert_sink_matches(mysql, files)


def test_the_next_batch_read_ahead_gives_the_same_rows(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A backlog in batches of two files of 1 MB, each batch one wave: while a batch is
    written, the next batch's first wave is read, and used when its files are the ones
    guessed."""
    drop = tmp_path / "drop"
    files = generate(sink.env(), drop, 6, 72, "--events-per-file", "12000")
    assert all(path.stat().st_size > 1 << 20 for path in files)
    # A second apart: the source's order (by time) and the guess's (time, then name) agree.
    for number, path in enumerate(files):
        os.utime(path, (1_767_225_600 + number, 1_767_225_600 + number))
    caplog.set_level(logging.INFO, logger="spark_app.job.batches")
    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=2)
    assert caplog.text.count("its first wave was read ahead") == 2
    assert_sink_matches(sink, files)
    assert sink.query("SELECT COUNT(*), SUM(files) FROM ingest_batches") == [(3, 6)]


def test_files_under_a_very_long_path_are_ingested(
    spark: SparkSession, mysql: SinkUnderTest, tmp_path: Path
) -> None:
    drop = tmp_path
    while len(str(drop)) < 1_222:
        drop = drop / ("d" * 200)
    files = generate(mysql.env(), drop, 3, 17)
    run_stream(spark, mysql, drop, tmp_path / "checkpoint", files=3)
    assert_sink_matches(mysql, files)


@pytest.fixture(params=["mysql", "postgresql"])
def own_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SinkUnderTest]:
    """A server of this test alone, so that stopping it disturbs no other test."""
    server: LocalServer | LocalPostgres
    if request.param == "mysql":
        server = LocalServer(tmp_path / "mysql", free_port())
    else:
        server = LocalPostgres(postgres_base(), free_port())
    server.start()
    try:
        name = f"o_{uuid.uuid4().hex[:8]}"
        if isinstance(server, LocalServer):
            yield mysql_sink(server, name)
        else:
            yield postgresql_sink(server, name)
    finally:
        server.stop()


def test_database_outage_is_retried_and_the_stream_goes_on(
    own_sink: SinkUnderTest, tmp_path: Path
) -> None:
    env = {
        **own_sink.env(),
        "SINK_RETRIES": "8",
        "SINK_RETRY_BASE_SECONDS": "0.5",
        "SINK_RETRY_MULTIPLIER": "2",
        **_held("batch-committed", 1),  # slows batches down so the outage falls mid-run
    }
    drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "stream.log"
    files = generate(env, drop, 6, seed=8)
    stream = start_spark_submit(
        env, log, *own_sink.args, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint),
        "--available-now", "--max-files-per-trigger", "1",
    )  # fmt: skip
    try:
        wait_for(lambda: own_sink.count("ingest_batches") >= 2, "two batches committed")
        own_sink.stop_server()
        time.sleep(4)
        own_sink.start_server()
        assert stream.wait(300) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if stream.poll() is None:
            kill_group(stream)
    output = log.read_text(errors="replace")
    assert "retrying in" in output
    assert _password(own_sink) not in output
    assert_sink_matches(own_sink, files)
    print(f"{own_sink.kind} down 4 s mid-run: {output.count('retrying in')} retries, exit 0")


@pytest.mark.parametrize(
    ("path", "server_args"),
    [("load-data", ("--local-infile=1",)), ("insert", ("--local-infile=0",))],
)
def test_outage_beyond_the_retry_budget_stops_clearly_and_restart_resumes(
    path: str, server_args: tuple[str, ...], tmp_path: Path
) -> None:
    """On both MySQL write paths: LOAD DATA, and the INSERT fallback of a server without
    local_infile (MySQL 8's default)."""
    server = LocalServer(tmp_path / "mysql", free_port(), extra_args=server_args)
    server.start()
    try:
        own = mysql_sink(server, "budget")
        env = {
            **own.env(),
            "SINK_RETRIES": "2",
            "SINK_RETRY_BASE_SECONDS": "0.2",
            **_held("batch-committed", 1),
        }
        drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "s.log"
        files = generate(env, drop, 5, seed=9)
        args = ("--input-dir", str(drop), "--checkpoint-dir", str(checkpoint), "--available-now",
                "--max-files-per-trigger", "1")  # fmt: skip
        stream = start_spark_submit(env, log, *args)
        try:
            wait_for(lambda: own.count("ingest_batches") >= 1, "a batch committed")
            server.stop()
            assert stream.wait(300) == 1
        finally:
            if stream.poll() is None:
                kill_group(stream)
        output = log.read_text(errors="replace")
        assert f"write path: {path}" in output
        assert output.count("giving up") == 1, output[-3000:]
        assert "failed 3 time(s)" in output
        assert _password(own) not in output

        server.start()
        env.pop(ENV)
        resumed = spark_submit(env, *args)
        assert resumed.returncode == 0, resumed.stdout[-3000:]
        assert_sink_matches(own, files)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("kind", "how"),
    [("mysql", "SIGTERM to spark-submit"), ("postgresql", "SIGINT to the process group")],
)
def test_stop_signal_ends_cleanly_and_restart_resumes(
    kind: str, how: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if kind == "mysql":
        sink = mysql_sink(request.getfixturevalue("mysql_server"), f"s_{uuid.uuid4().hex[:8]}")
    else:
        sink = postgresql_sink(request.getfixturevalue("pg_server"), f"s_{uuid.uuid4().hex[:8]}")
    env = sink.env()
    drop, checkpoint, log = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "stream.log"
    staging = tmp_path / "staging"
    files = generate(env, staging, 8, seed=33)
    drop.mkdir()
    args = (*sink.args, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint))
    # The dashboard watches the live stream with the read-only account; its /metrics is
    # compared with the database below.
    dashboard = running_dashboard(
        sink.env("reader"), tmp_path / "dashboard.log", "--input-dir", str(drop),
        "--interval", "0.5",
    )  # fmt: skip
    with dashboard as url:
        stream = start_spark_submit(env, log, *args)
        try:
            wait_for(
                lambda: "INFO spark_app: streaming" in log.read_text(errors="replace"), "start"
            )
            for path in files[:4]:  # a live stream, files arriving one by one
                shutil.copy(path, drop / f".{path.name}.tmp")
                os.replace(drop / f".{path.name}.tmp", drop / path.name)
                time.sleep(1)
            wait_for(lambda: sink.count("ingest_files") == 4, "the four files committed")
            _assert_metrics_equal_the_database(sink, url)
            for process in [psutil.Process(stream.pid), *psutil.Process(stream.pid).children(True)]:
                try:
                    assert _password(sink) not in " ".join(process.cmdline())
                except psutil.NoSuchProcess:  # a short-lived helper process already gone
                    continue
            if how.startswith("SIGTERM"):
                stream.send_signal(signal.SIGTERM)
            else:
                os.killpg(stream.pid, signal.SIGINT)
            assert stream.wait(120) == 0, log.read_text(errors="replace")[-3000:]
        finally:
            if stream.poll() is None:
                kill_group(stream)
        # Its final run record says finished: the stream is stopped for Prometheus too.
        wait_for(lambda: sample(scrape(url), "ingest_stream_state", state="stopped") == 1,
                 "/metrics to report the stream stopped", timeout=30)  # fmt: skip
    assert "stream stopped cleanly" in log.read_text(errors="replace")

    for path in files[4:]:
        shutil.copy(path, drop / path.name)
    resumed = spark_submit(env, *args, "--available-now")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert_sink_matches(sink, files)


def _assert_metrics_equal_the_database(sink: SinkUnderTest, url: str) -> None:
    """Once the dashboard has polled the last commit, its /metrics holds the database's own
    figures: the counters the sums of ingest_batches and the quarantine by reason, the rows
    written the rows of events (no users or products files here), the histograms one
    observation per batch; the stream running with nothing waiting."""
    (batches, files, read, written, duplicate, total_ms, aged) = (
        int(v) for v in sink.query(
            "SELECT COUNT(*), SUM(files), SUM(rows_read), SUM(rows_written), SUM(rows_duplicate),"
            " SUM(total_ms), COUNT(oldest_file_age_s) FROM ingest_batches"
        )[0]
    )  # fmt: skip
    reasons = {
        reason: int(rows)
        for reason, rows in sink.query(
            "SELECT reason, COUNT(*) FROM events_rejected GROUP BY reason"
        )
    }
    assert reasons and written == sink.count("events") and files == 4
    # Two buckets counted here from the rows, against the dashboard's SQL on this database.
    timings = sink.query("SELECT total_ms, oldest_file_age_s FROM ingest_batches")
    durations, ages = [row[0] for row in timings], [row[1] for row in timings]
    expected = {
        ("ingest_batches_total", ()): batches,
        ("ingest_files_committed_total", ()): files,
        ("ingest_rows_read_total", ()): read,
        ("ingest_rows_written_total", ()): written,
        ("ingest_rows_duplicate_total", ()): duplicate,
        ("ingest_batch_duration_seconds_count", ()): batches,
        ("ingest_batch_duration_seconds_sum", ()): total_ms / 1000,
        ("ingest_batch_duration_seconds_bucket", (("le", "1.0"),)): sum(
            ms <= 1000 for ms in durations
        ),
        ("ingest_freshness_seconds_count", ()): aged,
        ("ingest_freshness_seconds_bucket", (("le", "10.0"),)): sum(
            age is not None and age <= 10 for age in ages
        ),
        ("ingest_stream_state", (("state", "running"),)): 1,
        ("ingest_files_waiting", ()): 0,
        ("ingest_dashboard_poll_success", ()): 1,
        **{
            ("ingest_rows_rejected_total", (("reason", reason),)): rows
            for reason, rows in {"sink_refused": 0, **reasons}.items()
        },
    }
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], float | None] = {}

    def equal() -> bool:
        families = scrape(url)
        seen.clear()
        seen.update(
            {(name, labels): sample(families, name, **dict(labels)) for name, labels in expected}
        )
        return all(
            seen[key] is not None and abs(float(seen[key] or 0) - value) < 1e-6
            for key, value in expected.items()
        )

    try:
        wait_for(equal, "/metrics to equal the database", timeout=30)
    except AssertionError:
        raise AssertionError(f"/metrics {seen} != database {expected}") from None
    assert sink.count("events_rejected") == sum(reasons.values()) == read - written - duplicate
