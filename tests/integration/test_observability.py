"""Run records, the report and the health check against real runs of spark-submit.

One module-scoped ingestion (two runs of the real `spark-submit spark_app/main.py
--available-now` on one checkpoint, with generated files) feeds most tests; the commands are
run as a user would (`python -m spark_app.commands.…`) against the private server, the
read-only ones with the reader account, `runs import` with the writer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image  # Pillow: a dependency of matplotlib

from localmysql import LocalServer, free_port
from spark_app.sink.drivers import connect
from tests.conftest import REPO
from tests.helpers import generate, spark_submit
from tests.oracle import expected_for
from tests.sinks import SinkUnderTest, mysql_sink

pytestmark = pytest.mark.integration

# The job's line per committed batch.
BATCH_LINE = re.compile(
    r"batch (\d+): (\d+) file\(s\), (\d+) read, (\d+) written, (\d+) duplicate,"
    r" (\d+) rejected in (\d+) ms \(read (\d+), commit (\d+)"
)


@dataclass(frozen=True)
class Ingested:
    """What the two runs left behind."""

    sink: SinkUnderTest
    env: dict[str, str]  # the writer's, as the stream ran
    reader: dict[str, str]  # the read-only account's, for health and report
    drop: Path
    files: list[Path]
    history: Path
    outputs: tuple[str, str]


def command(env: dict[str, str], name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m spark_app.commands.<name> ...` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", f"spark_app.commands.{name}", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def observed(mysql_server: LocalServer) -> SinkUnderTest:
    """A MySQL schema of this module, migrated by its owner."""
    return mysql_sink(mysql_server, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def ingested(observed: SinkUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """Two runs on one checkpoint: 3 files, then 2 more, one repeating earlier events and,
    arriving last, an empty file (the last batch holds it alone)."""
    base = tmp_path_factory.mktemp("observed")
    history = base / "runs" / "history.json"
    settings = {
        "RUN_HISTORY_FILE": str(history),
        "RUN_RECORD_INTERVAL_SECONDS": "1",  # the periodic refresh runs too, and is replaced
        "RESOURCE_SAMPLE_SECONDS": "0.5",
        "STATUS_EVERY_BATCHES": "2",
    }
    env = {**observed.env("writer"), **settings}
    drop, checkpoint = base / "drop", base / "checkpoint"
    args = (*observed.args, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint),
            "--available-now", "--max-files-per-trigger", "1")  # fmt: skip
    first_files = generate(env, drop, 3, 31, "--null-user-rate", "0.2")
    first = spark_submit(env, *args)
    assert first.returncode == 0, first.stdout[-4000:]
    second_files = sorted(
        set(generate(env, drop, 2, 32, "--null-user-rate", "0.2")) - set(first_files)
    )
    repeat = drop / "repeat.csv"
    repeat.write_text("".join(first_files[0].read_text().splitlines(True)[:4]))
    empty = drop / "empty.csv"
    empty.write_bytes(b"")
    # Arrival order, after every file of the first run: the new files, the repeat, the empty one.
    now = time.time()
    arriving = [*second_files, repeat, empty]
    for index, path in enumerate(arriving):
        moment = now - len(arriving) + index + 1
        os.utime(path, (moment, moment))
    second = spark_submit(env, *args)
    assert second.returncode == 0, second.stdout[-4000:]
    return Ingested(
        observed, env, {**observed.env("reader"), **settings}, drop,
        sorted(drop.glob("*.csv")), history, (first.stdout, second.stdout),
    )  # fmt: skip


def batch_sums(sink: SinkUnderTest) -> dict[str, tuple[int, ...]]:
    """Per run id: batches, files, read, written, rejected, retries (from ingest_batches)."""
    rows = sink.query(
        "SELECT run_id, COUNT(*), SUM(files), SUM(rows_read), SUM(rows_written),"
        " SUM(rows_rejected), SUM(retries) FROM ingest_batches GROUP BY run_id"
    )
    return {row[0]: tuple(int(v) for v in row[1:]) for row in rows}


def pipeline_runs(sink: SinkUnderTest) -> dict[str, dict[str, Any]]:
    rows = sink.query(
        "SELECT run_id, state, sources_processed, total_records, quality_pass_rate, retries,"
        " errors, total_duration_seconds, throughput_rpm, memory_peak_mb, memory_avg_mb,"
        " cpu_peak_percent, cpu_avg_percent FROM pipeline_runs ORDER BY run_id"
    )
    keys = ("state", "files", "records", "rate", "retries", "errors", "duration", "rpm",
            "mem_peak", "mem_avg", "cpu_peak", "cpu_avg")  # fmt: skip
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def execute(sink: SinkUnderTest, sql: str) -> None:
    """Run one statement as the schema's owner and commit it."""
    with connect(sink.settings("owner")) as connection:
        connection.cursor().execute(sql)
        connection.commit()


def test_run_records_equal_the_batch_sums_and_the_oracle(ingested: Ingested) -> None:
    sums = batch_sums(ingested.sink)
    runs = pipeline_runs(ingested.sink)
    assert len(sums) == 2 and set(runs) == set(sums)
    history = {r["run_id"]: r for r in json.loads(ingested.history.read_text())}
    assert set(history) == set(sums)  # one entry per run: periodic versions were replaced
    for run_id, (batches, files, read, written, _rejected, retries) in sums.items():
        row, record = runs[run_id], history[run_id]
        assert batches >= 1
        assert row["state"] == "finished"
        assert (row["files"], row["records"], row["retries"], row["errors"]) == (
            files, read, retries, 0
        )  # fmt: skip
        assert row["rate"] == Decimal(written / read).quantize(Decimal("0.000001"))
        assert record["sources_processed"] == files
        assert record["total_records"] == read
        assert record["quality_pass_rate"] == round(written / read, 6)
        assert (record["retries"], record["errors"]) == (retries, 0)
        assert record["throughput_rpm"] == round(read * 60 / record["total_duration_seconds"], 1)
        assert float(row["duration"]) == record["total_duration_seconds"]
        # The JVM is measured with the Python driver: together well over 100 MB.
        assert float(row["mem_peak"]) >= float(row["mem_avg"]) > 100
        assert 100 >= float(row["cpu_peak"]) >= float(row["cpu_avg"]) >= 0
    expected = expected_for(ingested.files)
    assert sum(s[2] for s in sums.values()) == expected.read
    assert sum(s[3] for s in sums.values()) == len(expected.events)
    assert sum(s[4] for s in sums.values()) == len(expected.rejected)
    # Every file once, the empty one too.
    assert sum(s[1] for s in sums.values()) == len(ingested.files) == expected.files
    assert ingested.sink.count("ingest_files") == len(ingested.files)


def test_batch_log_lines_equal_the_batch_records(ingested: Ingested) -> None:
    for output, run_id in zip(ingested.outputs, sorted(batch_sums(ingested.sink)), strict=True):
        logged = [tuple(int(v) for v in m.groups()) for m in BATCH_LINE.finditer(output)]
        recorded = ingested.sink.query(
            "SELECT batch_id, files, rows_read, rows_written, rows_duplicate, rows_rejected,"
            " total_ms, stage_ms, commit_ms FROM ingest_batches WHERE run_id = %s"
            " ORDER BY batch_id",
            (run_id,),
        )
        assert sorted(logged) == [tuple(int(v) for v in row) for row in recorded]
        for _, _, read, written, duplicate, rejected, *_ in logged:
            assert read == written + duplicate + rejected


def test_the_last_batch_held_only_the_empty_file(ingested: Ingested) -> None:
    query_id, batch_id, files, read, oldest, newest = ingested.sink.query(
        "SELECT query_id, batch_id, files, rows_read, oldest_file_age_s, newest_file_age_s"
        " FROM ingest_batches ORDER BY committed_at DESC LIMIT 1"
    )[0]
    listed = ingested.sink.query(
        "SELECT source_file, records FROM ingest_files WHERE query_id = %s AND batch_id = %s",
        (query_id, batch_id),
    )
    assert [(path.rsplit("/", 1)[-1], records) for path, records in listed] == [("empty.csv", 0)]
    assert (files, read) == (1, 0)
    # Its file's age is known: the health check measures the backlog from it.
    assert oldest is not None and newest is not None and oldest == newest > 0


def test_the_history_file_passes_validation(ingested: Ingested) -> None:
    result = command(ingested.reader, "runs", "validate", str(ingested.history))
    assert result.returncode == 0, result.stderr
    assert "2 run record(s) valid" in result.stdout


def test_status_lines_and_the_run_summary_are_logged(ingested: Ingested) -> None:
    first, second = ingested.outputs
    run_id = next(iter(sorted(batch_sums(ingested.sink))))
    assert f"status {run_id}: 2 batches, " in first
    # Spark's phases, read from each progress's JSON by the listener.
    assert re.search(r"; phases p50 ms: latestOffset \d+, .*, triggerExecution \d+", first)
    assert f"run {run_id}: 3 file(s), " in first
    password = ingested.env["MYSQL_PASSWORD"]
    assert password not in first and password not in second


def test_import_refuses_run_ids_already_recorded(ingested: Ingested) -> None:
    before = ingested.history.read_bytes()
    result = command(ingested.env, "runs", "import", str(ingested.history), "--dry-run")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 4  # two runs, each in the file and in the table
    assert sum("already in table pipeline_runs" in line for line in lines) == 2
    assert sum(f"already in {ingested.history}" in line for line in lines) == 2
    assert ingested.history.read_bytes() == before


def test_import_adds_a_new_record_to_the_table_and_the_file(
    ingested: Ingested, tmp_path: Path
) -> None:
    original = ingested.history.read_bytes()
    record = json.loads(original)[0]
    record.update(run_id="20200101_000000", timestamp="2020-01-01T00:00:00Z")
    source = tmp_path / "run.json"
    source.write_text(json.dumps(record))
    try:
        dry = command(ingested.env, "runs", "import", str(source), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "20200101_000000" not in pipeline_runs(ingested.sink)
        assert ingested.history.read_bytes() == original
        done = command(ingested.env, "runs", "import", str(source))
        assert done.returncode == 0, done.stderr
        assert pipeline_runs(ingested.sink)["20200101_000000"]["state"] == "imported"
        history = json.loads(ingested.history.read_text())
        assert [r["run_id"] for r in history][-1] == "20200101_000000"
        before = ingested.history.read_bytes()
        again = command(ingested.env, "runs", "import", str(source))
        assert again.returncode == 1
        assert "already in table pipeline_runs" in again.stderr
        assert ingested.history.read_bytes() == before
    finally:
        # Leave the table and the file as the runs left them, for the other tests.
        execute(ingested.sink, "DELETE FROM pipeline_runs WHERE run_id = '20200101_000000'")
        ingested.history.write_bytes(original)


def test_import_needs_an_account_that_may_write(ingested: Ingested, tmp_path: Path) -> None:
    record = json.loads(ingested.history.read_bytes())[0]
    record.update(run_id="20200102_000000", timestamp="2020-01-02T00:00:00Z")
    source = tmp_path / "run.json"
    source.write_text(json.dumps(record))
    before = ingested.history.read_bytes()
    result = command(ingested.reader, "runs", "import", str(source))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "20200102_000000" not in pipeline_runs(ingested.sink)
    assert ingested.history.read_bytes() == before


def test_report_draws_the_real_runs(ingested: Ingested, tmp_path: Path) -> None:
    output = tmp_path / "report.png"
    result = command(ingested.reader, "report", "--output", str(output), "--size", "1200x900")
    assert result.returncode == 0, result.stderr
    with Image.open(output) as image:
        assert (image.format, image.size) == ("PNG", (1200, 900))
    lines = result.stdout.splitlines()
    for run_id, (batches, _, read, *_rest) in batch_sums(ingested.sink).items():
        line = next(line for line in lines if line.startswith(run_id))
        assert line.split()[1:4] == ["finished", str(batches), str(read)]
    assert f"chart: {output} (1200x900 px" in result.stdout


def test_health_is_ok_after_the_runs_that_ended_on_an_empty_file(ingested: Ingested) -> None:
    # --allow-stopped: the runs were --available-now ones, which end by design.
    result = command(
        ingested.reader, "health", "--input-dir", str(ingested.drop), "--max-age", "3600",
        "--max-reject-share", "0.5", "--allow-stopped",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("healthy: last batch ")
    assert ", 0 file(s) waiting, " in result.stdout
    assert len(result.stdout.splitlines()) == 1


def test_health_fails_when_the_stream_is_not_running(ingested: Ingested) -> None:
    result = command(ingested.reader, "health", "--max-age", "3600")
    assert result.returncode == 1
    run_id = max(batch_sums(ingested.sink))
    assert result.stdout.strip() == f"unhealthy: the stream is not running: run {run_id} finished"


def test_health_fails_on_a_stale_commit(ingested: Ingested) -> None:
    result = command(
        ingested.reader, "health", "--max-age", "0.001", "--max-reject-share", "0.5",
        "--allow-stopped",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: last batch committed ")
    assert "(max 0.001 s)" in result.stdout


def test_health_fails_on_files_waiting(ingested: Ingested, tmp_path: Path) -> None:
    waiting = tmp_path / "waiting"
    generate(ingested.env, waiting, 3, 33)  # modified after every committed file
    result = command(
        ingested.reader, "health", "--input-dir", str(waiting), "--max-waiting-files", "2",
        "--max-age", "3600", "--max-reject-share", "0.5", "--allow-stopped",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.strip() == "unhealthy: 3 files waiting (max 2)"
    stale = command(
        ingested.reader, "health", "--input-dir", str(waiting), "--max-age", "0.001",
        "--allow-stopped",
    )  # fmt: skip
    assert stale.returncode == 1
    assert stale.stdout.strip().endswith("(max 0.001 s), 3 file(s) waiting")


def test_health_fails_on_rejects(ingested: Ingested) -> None:
    result = command(
        ingested.reader, "health", "--max-age", "3600", "--max-reject-share", "0.01",
        "--allow-stopped",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: rejected ")
    assert "(max 1 %)" in result.stdout


def test_report_and_health_on_an_empty_database(mysql: SinkUnderTest, tmp_path: Path) -> None:
    reader = mysql.env("reader")
    output = tmp_path / "report.png"
    report = command(reader, "report", "--output", str(output))
    assert report.returncode == 0, report.stderr
    assert "no batches recorded yet" in report.stdout
    assert not output.exists()
    never = command(reader, "health")
    assert never.returncode == 1
    assert never.stdout.strip() == (
        "unhealthy: the stream has never run (no run record in pipeline_runs)"
    )
    health = command(reader, "health", "--allow-stopped")
    assert health.returncode == 1
    assert health.stdout.strip() == "unhealthy: no batch committed yet"
    idle = command(reader, "health", "--input-dir", str(tmp_path), "--allow-stopped")
    assert idle.returncode == 0
    assert idle.stdout.startswith("healthy: idle, no batch yet")
    # The commands' old module names still work.
    old = subprocess.run(
        [sys.executable, "-m", "spark_app.health", "--allow-stopped"],
        cwd=REPO, env=reader, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert (old.returncode, old.stdout) == (health.returncode, health.stdout)


def test_unreachable_database(mysql: SinkUnderTest, tmp_path: Path) -> None:
    env = {**mysql.env("reader"), "MYSQL_PORT": str(free_port())}
    health = command(env, "health")
    assert health.returncode == 1
    assert health.stdout.startswith("unhealthy: database unreachable at ")
    assert env["MYSQL_PASSWORD"] not in health.stdout
    report = command(env, "report", "--output", str(tmp_path / "r.png"))
    assert report.returncode == 3
    assert "cannot use MySQL" in report.stderr
