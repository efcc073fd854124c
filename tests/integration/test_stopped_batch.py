"""A batch that stops the stream is set aside without losing it, and rows the database refused
are retried once their cause is fixed: `ingest-batches` against a real stream, on both sinks.

One scenario: a CHECK constraint added by hand refuses three rows of the first file
(`sink_refused`); then the writer loses INSERT on events, so the next batch is refused as a
whole and the real `spark-submit` exits 1 with that batch pending in its checkpoint.
`ingest-health --checkpoint-dir` names it, `list` shows both, `export` copies the pending
batch's file to the dead-letter folder and records the batch, the right and the constraint are
put back as they were, `retry` drops the refused rows into the input folder, and a restart
skips the set-aside batch and ingests everything after it.
On MySQL the server's general query log checks that `ingest-batches` runs only statement kinds
docs/PRIVILEGES.md lists for the writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from spark_app.common.checkpoint import query_id
from spark_app.sink.drivers import open_connection
from tests.helpers import REPO, assert_batches_balance, run_stream, spark_submit
from tests.integration.test_privileges import documented_kinds, general_log, kind_of
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time"
T = "2024-05-01T10:00:00Z"
CAPPED = (7, 23, 31)  # rows of a.csv over the cap; row 7's user id holds a quote


def _drop(path: Path, rows: list[str], age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in [HEADER, *rows]), encoding="utf-8")
    moment = time.time() - age_s
    os.utime(path, (moment, moment))
    return path


def _as_owner(sink: SinkUnderTest, *statements: str) -> None:
    connection = open_connection(sink.settings("owner"))
    try:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()


def _events_table(sink: SinkUnderTest) -> str:
    return f"`{sink.settings('owner').database}`.`events`" if sink.kind == "mysql" else "events"


def _writer(sink: SinkUnderTest) -> str:
    return f"'{sink.writer_user}'@'%'" if sink.kind == "mysql" else sink.writer_user


def _batches(sink: SinkUnderTest, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m spark_app.commands.batches ...` with the stream's own account."""
    return subprocess.run(
        [sys.executable, "-m", "spark_app.commands.batches", *args],
        cwd=REPO, env=sink.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _writer_statement_kinds(sink: SinkUnderTest) -> set[str]:
    connection = sink.server.root_connection()  # type: ignore[union-attr]
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log"
            " WHERE command_type = 'Query' AND user_host LIKE %s",
            (f"{sink.writer_user}[%",),
        )
        return {kind_of(str(row[0])) for row in cursor.fetchall()}
    finally:
        connection.close()


def test_a_stopped_batch_is_set_aside_and_refused_rows_are_retried(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop, checkpoint, dead = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "dead_letter"
    where = ("--checkpoint-dir", str(checkpoint), "--dead-letter-dir", str(dead))
    stream = (*sink.args, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint))

    # Batch 0: three rows over a cap added by hand are quarantined, the rest committed.
    _as_owner(sink, "ALTER TABLE events ADD CONSTRAINT price_cap CHECK (price < 1000)")
    users = {7: '"x""y"'}  # a quoted field: x"y
    first = _drop(drop / "a.csv", [
        f"r{n},{users.get(n, f'u{n % 3}')},p1,view,{2000 if n in CAPPED else 5},{T}"
        for n in range(40)
    ], age_s=30)  # fmt: skip
    run_stream(spark, sink, drop, checkpoint)

    # Batch 1: refused as a whole (no INSERT on events), so the real stream stops: exit 1.
    _as_owner(sink, f"REVOKE INSERT ON {_events_table(sink)} FROM {_writer(sink)}")
    second = _drop(drop / "b.csv", [f"b{n},u1,p1,view,3,{T}" for n in range(10)], age_s=20)
    stopped = spark_submit(sink.env(), *stream, "--available-now")
    assert stopped.returncode == 1, stopped.stdout[-3000:]
    assert "refused the batch, nothing of it was written" in stopped.stdout
    query = query_id(str(checkpoint))
    assert query is not None

    if sink.kind == "mysql":
        general_log(sink.server, True)
    try:
        listed = _batches(sink, "list", "--json", *where)
        assert listed.returncode == 1, listed.stderr
        report: dict[str, Any] = json.loads(listed.stdout)
        pending = report["pending_batch"]
        assert (pending["batch_id"], pending["query_id"], pending["recorded"]) == (1, query, None)
        assert [entry["path"] for entry in pending["files"]] == [f"file:{second}"]
        assert report["last_run"]["state"] == "failed"
        (refused,) = report["refused"]
        assert (refused["query_id"], refused["batch_id"], refused["rows"]) == (query, 0, 3)
        assert "price_cap" in refused["first_detail"]
        assert (refused["exported"], refused["retried"]) == (None, None)

        health = subprocess.run(
            [sys.executable, "-m", "spark_app.commands.health", "--allow-stopped", "--max-age",
             "0.5", "--checkpoint-dir", str(checkpoint)],
            cwd=REPO, env=sink.env("reader"), capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert health.returncode == 1, health.stdout + health.stderr
        assert health.stdout.startswith("unhealthy: batch 1 pending for "), health.stdout
        shown = _batches(sink, "list", *where)
        assert shown.returncode == 1 and "pending: batch 1, for " in shown.stdout, shown.stderr
        exported = _batches(sink, "export", "1", "--reason", "writer lost INSERT", *where)
        assert exported.returncode == 0, exported.stderr
        print(shown.stdout, exported.stdout, sep="\n")  # shown with `pytest -rP`
        again = _batches(sink, "export", "1", "--reason", "twice", *where)
        assert again.returncode == 1 and "recorded in ingest_batches already" in again.stderr

        # The cause is fixed; the refused rows go back to the stream, once.
        _as_owner(
            sink,
            f"GRANT INSERT ON {_events_table(sink)} TO {_writer(sink)}",
            "ALTER TABLE events DROP CONSTRAINT price_cap",
        )
        retried = _batches(sink, "retry", f"{query}:0", "--input-dir", str(drop), *where)
        assert retried.returncode == 0, retried.stderr
        print(retried.stdout)
        twice = _batches(sink, "retry", f"{query}:0", "--input-dir", str(drop), *where)
        assert twice.returncode == 1 and "was retried at" in twice.stderr
    finally:
        if sink.kind == "mysql":
            general_log(sink.server, False)
    if sink.kind == "mysql":
        kinds = _writer_statement_kinds(sink)
        assert "INSERT" in kinds and "SELECT … FOR UPDATE" not in kinds
        assert kinds <= documented_kinds("The writer (the stream)"), sorted(kinds)

    # The dead-letter copy is the input, byte for byte; the input stays where it was.
    entry = dead / f"{query}-1"
    manifest = json.loads((entry / "manifest.json").read_text())
    assert (manifest["kind"], manifest["reason"]) == ("pending_batch", "writer lost INSERT")
    assert [item["name"] for item in manifest["files"]] == ["b.csv"]
    assert (entry / "b.csv").read_bytes() == second.read_bytes() and second.exists()
    assert sink.query(
        "SELECT rows_read, files, write_path FROM ingest_batches WHERE batch_id = 1"
    ) == [(0, 1, "dead_letter")]
    (retry_file,) = sorted(drop.glob(f"retry_{query}-0_*.csv"))

    # The restart skips the set-aside batch and ingests the retried rows and a later file.
    later = _drop(drop / "c.csv", [f"c{n},u2,p2,purchase,4,{T}" for n in range(10)], age_s=0)
    restarted = spark_submit(sink.env(), *stream, "--available-now")
    assert restarted.returncode == 0, restarted.stdout[-3000:]
    assert "batch 1: already committed, replay skipped" in restarted.stdout
    events = sink.events()
    assert set(events) == {f"r{n}" for n in range(40)} | {f"c{n}" for n in range(10)}
    assert events["r7"][0] == 'x"y' and events["r7"][5] == retry_file.name
    assert sink.totals() == (40 + 3 + 10, 37 + 3 + 10, 0, 3)
    assert_batches_balance(sink)
    assert first.exists() and later.exists()

    settled = _batches(sink, "list", *where)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "pending: none" in settled.stdout and "retried as retry_" in settled.stdout
    print(f"{sink.kind}: batch 1 set aside, 3 refused rows retried, 50 events; lost 0")
