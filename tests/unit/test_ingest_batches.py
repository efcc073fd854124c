"""`ingest-batches` without a database: the pending batch of a checkpoint folder, the
dead-letter entries and their manifests, refused rows back to CSV (read again by the project's
own splitter), and the pending batch in the health verdict and the dashboard's state."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from spark_app.commands import batches, batchsettle, deadletter
from spark_app.commands.batchstore import RunInfo
from spark_app.commands.dashboard.snapshot import Fetched, build_snapshot, stream_state
from spark_app.commands.health import Limits, Observed, verdict
from spark_app.commands.refused import RefusedRow, csv_line, fields_of, header_line, split_stored
from spark_app.common.batch_metrics import LastBatch, LastRun, RecentRejects
from spark_app.common.checkpoint import PendingBatch, describe_age, pending_batch, query_id
from spark_app.parse.csvsplit import split_records
from spark_app.sink.batch import EVENT_COLUMNS, PRODUCT_COLUMNS, USER_COLUMNS, BatchKey, refused

QUERY = "2f37877f-02d9-457f-a336-ccdbab96bc1f"
KEY = BatchKey(QUERY, 7)
T = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)


# --- the checkpoint ---------------------------------------------------------------------------


def checkpoint(root: Path, planned: int, committed: int, mtime: float = 1_700_000_000.0) -> Path:
    """A checkpoint as Spark leaves it: metadata, offsets/0..planned, commits/0..committed,
    with the checksum and temporary files Spark's local file manager writes beside them."""
    (root / "offsets").mkdir(parents=True)
    (root / "commits").mkdir()
    (root / "metadata").write_text(json.dumps({"id": QUERY}))
    for number in range(planned + 1):
        (root / "offsets" / str(number)).write_text('v1\n{}\n{"logOffset":0}')
        (root / "offsets" / f".{number}.crc").write_bytes(b"crc")
        os.utime(root / "offsets" / str(number), (mtime, mtime))
    for number in range(committed + 1):
        (root / "commits" / str(number)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    (root / "offsets" / f".{planned + 1}.1a2b.tmp").write_text("half")
    return root


def test_the_pending_batch_is_the_highest_planned_without_a_commit(tmp_path: Path) -> None:
    root = checkpoint(tmp_path / "cp", planned=17, committed=16)
    pending = pending_batch(str(root), now=1_700_000_240.0)
    assert pending == PendingBatch(17, QUERY, datetime.fromtimestamp(1_700_000_000, UTC), 240.0)
    assert pending_batch(f"file:{root}", now=1_700_000_240.0) == pending
    assert query_id(str(root)) == QUERY


def test_nothing_pending(tmp_path: Path) -> None:
    assert pending_batch(str(checkpoint(tmp_path / "cp", planned=3, committed=3))) is None
    assert pending_batch(str(tmp_path / "never-started")) is None
    assert pending_batch("s3a://bucket/checkpoint") is None
    (tmp_path / "empty" / "offsets").mkdir(parents=True)
    assert pending_batch(str(tmp_path / "empty")) is None
    assert query_id(str(tmp_path / "empty")) is None


def test_ages_read_as_people_say_them() -> None:
    assert [describe_age(s) for s in (42, 240, 12_600, 259_200)] == [
        "42 s",
        "4 min",
        "3.5 h",
        "3.0 d",
    ]


# --- the dead-letter folder -------------------------------------------------------------------


def test_a_pending_batch_is_copied_byte_for_byte_with_its_manifest(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    (drop / "sub").mkdir(parents=True)
    first, second = drop / "a.csv", drop / "sub" / "a.csv"  # two files of one name
    first.write_bytes(b"event_id,user_id\r\n\xef\xbb\xbfx,y\n")
    second.write_bytes(b"")
    os.utime(first, (1_600_000_000, 1_600_000_000))
    files = [(f"file:{first}", first), (f"file:{second}", second)]
    manifest = deadletter.export_files(
        tmp_path / "dl", KEY, files, ["file:/gone.csv"], "permission denied", T
    )
    folder = tmp_path / "dl" / f"{QUERY}-7"
    assert sorted(p.name for p in folder.iterdir()) == ["a.2.csv", "a.csv", "manifest.json"]
    assert (folder / "a.csv").read_bytes() == first.read_bytes()
    assert (folder / "a.csv").stat().st_mtime == first.stat().st_mtime
    assert first.exists() and second.exists()  # copied, never moved
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert manifest["kind"] == "pending_batch"
    assert (manifest["query_id"], manifest["batch_id"]) == (QUERY, 7)
    assert manifest["reason"] == "permission denied"
    assert manifest["exported_at"] == "2024-05-01T10:00:00.123000Z"
    assert manifest["missing"] == ["file:/gone.csv"]
    listed = manifest["files"][0]
    assert listed == {
        "path": f"file:{first}",
        "name": "a.csv",
        "size": first.stat().st_size,
        "modified": "2020-09-13T12:26:40.000000Z",
        "sha256": hashlib.sha256(first.read_bytes()).hexdigest(),
    }
    assert manifest["files"][1]["name"] == "a.2.csv" and manifest["files"][1]["size"] == 0
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [f"{QUERY}-7"]  # no partial left


def test_an_interrupted_entry_leaves_no_folder_and_the_next_attempt_completes(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("x\n")
    with pytest.raises(FileNotFoundError):
        deadletter.export_files(
            tmp_path / "dl", KEY, [("g", good), ("m", tmp_path / "missing.csv")], [], "", T
        )
    assert list((tmp_path / "dl").iterdir()) == []
    deadletter.export_files(tmp_path / "dl", KEY, [("g", good)], [], "", T)
    assert deadletter.read_manifest(deadletter.entry_folder(tmp_path / "dl", KEY)) is not None


# --- refused rows back to files ---------------------------------------------------------------


def stored(
    columns: tuple[str, ...], rows: dict[str, list[object]], types: dict[str, pa.DataType]
) -> list[str]:
    """The raw_line values the sink stores for rows it refused (sink.batch.refused)."""
    table = pa.table(
        {
            **{
                name: pa.array(values, types.get(name, pa.string()))
                for name, values in rows.items()
            },
            "source_file": ["f.csv"] * len(next(iter(rows.values()))),
            "source_line": pa.array(range(2, 2 + len(next(iter(rows.values())))), pa.int32()),
        }
    )
    return [str(raw) for raw in refused(table, columns, "refused").column("raw_line").to_pylist()]


TIMES = pa.timestamp("us", tz="UTC")
PRICE = pa.decimal128(10, 2)


def test_refused_rows_round_trip_through_the_splitter() -> None:
    """Quotes, line breaks and other text survive: the file written reads back, with the
    stream's own splitter, into the values the database refused."""
    values: dict[str, list[object]] = {
        "event_id": ['quote"d', "line\nbreak", "cr\rhere", "ü-ñ"],
        "user_id": ["u1", '""', "u\r\n3", "U 4"],
        "product_id": ["p1", "p2", "p3", "p4"],
        "event_type": ["view", "purchase", "add_to_cart", "remove_from_cart"],
        "price": [Decimal("2000.00"), Decimal("0.00"), Decimal("99999999.99"), Decimal("1.5")],
        "event_time": [T, T, T, T],
    }
    lines = stored(EVENT_COLUMNS, values, {"price": PRICE, "event_time": TIMES})
    split = [split_stored(line) for line in lines]
    assert all(found is not None and found[0] == "events" for found in split)
    text = header_line("events") + "".join(csv_line(found[1]) for found in split if found)
    records = split_records(text.encode("utf-8"))
    assert [record.problem for record in records] == [None] * 4
    assert [record.kind for record in records] == ["events"] * 4
    assert [record.fields[:4] for record in records] == [
        [str(values[name][n]) for name in EVENT_COLUMNS[:4]] for n in range(4)
    ]
    assert records[0].fields[4:] == ["2000.00", "2024-05-01 10:00:00.123000Z"]


def test_users_and_products_are_told_apart_and_commas_are_ambiguous() -> None:
    users = stored(
        USER_COLUMNS,
        {"user_id": ["u1"], "name": ['Ann "A" Lee'], "email": ["a@x.org"], "city": [""],
         "registered_at": [T]},
        {"registered_at": TIMES},
    )  # fmt: skip
    products = stored(
        PRODUCT_COLUMNS,
        {"product_id": ["p1"], "name": ["Box"], "category": ["Home"],
         "list_price": [Decimal("12.50")]},
        {"list_price": PRICE},
    )  # fmt: skip
    assert split_stored(users[0]) == (
        "users",
        ["u1", 'Ann "A" Lee', "a@x.org", "", "2024-05-01 10:00:00.123000Z"],
    )
    assert split_stored(products[0]) == ("products", ["p1", "Box", "Home", "12.50"])
    assert split_stored("e,1,u1,p1,view,1.00,2024-05-01 10:00:00Z") is None
    assert split_stored("not a row") is None


def test_an_ambiguous_row_is_read_from_its_source_file(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        'event_id,user_id,product_id,event_type,price,event_time\n"e,1",u1,p1,view,2000,'
        "2024-05-01T10:00:00Z\n"
    )
    row = RefusedRow(1, f"file:{source}", 2, "x", "e,1,u1,p1,view,2000.00,2024-05-01 10:00:00Z",
                     datetime(2024, 5, 1))  # fmt: skip
    assert fields_of(row) == ("events", ["e,1", "u1", "p1", "view", "2000", "2024-05-01T10:00:00Z"])
    source.unlink()
    assert fields_of(row) is None


def test_refused_rows_entry_keeps_the_quarantine_and_a_file_per_kind(tmp_path: Path) -> None:
    lines = stored(
        EVENT_COLUMNS,
        {"event_id": ["r7", "r8"], "user_id": ["u1", "u2"], "product_id": ["p1", "p1"],
         "event_type": ["view", "view"], "price": [Decimal("2000"), Decimal("3000")],
         "event_time": [T, T]},
        {"price": PRICE, "event_time": TIMES},
    )  # fmt: skip
    at = datetime(2024, 5, 2, 8, 0)
    rows = [
        RefusedRow(10, "file:/drop/a.csv", 9, "4025 CONSTRAINT `price_cap` failed", lines[0], at),
        RefusedRow(11, "file:/drop/a.csv", 10, "4025 …", lines[1], at),
        RefusedRow(12, "file:/gone.csv", 4, "4025 …", "x,1,u,p,view,1.00,2024-05-01 10:00:00Z",
                   at),
    ]  # fmt: skip
    manifest = deadletter.export_refused(tmp_path, KEY, iter(rows), "cap", T)
    folder = deadletter.entry_folder(tmp_path, KEY)
    assert (manifest["rows"], manifest["unsplit"]) == (3, 1)
    assert [entry["name"] for entry in manifest["files"]] == ["quarantine.csv", "events.csv"]
    events = split_records((folder / "events.csv").read_bytes())
    assert [record.fields[0] for record in events] == ["r7", "r8"]
    quarantine = split_records((folder / "quarantine.csv").read_bytes(), kind="events")
    assert quarantine[0].fields == list(deadletter.QUARANTINE_COLUMNS)
    assert [record.fields[4] for record in quarantine[1:]] == [row.raw_line for row in rows]
    assert [entry["kind"] for entry in deadletter.retry_files(manifest)] == ["events"]


# --- the command's rules ----------------------------------------------------------------------


def test_batch_names() -> None:
    assert batches.parse_target("17") == batches.Target(None, 17)
    assert batches.parse_target(f"{QUERY}:3") == batches.Target(QUERY, 3)
    for bad in ("x", ":3", f"{QUERY}:", "-1"):
        with pytest.raises(Exception, match="expected N or QUERY_ID:N"):
            batches.parse_target(bad)


def test_a_fresh_running_record_means_the_stream_runs() -> None:
    at = datetime(2024, 5, 1)
    assert batchsettle.stream_running(None, 180) is None
    assert batchsettle.stream_running(RunInfo("r", "failed", at, 1, 5.0), 180) is None
    assert batchsettle.stream_running(RunInfo("r", "running", at, 0, 500.0), 180) is None  # killed
    running = batchsettle.stream_running(RunInfo("r", "running", at, 0, 20.0), 180)
    assert running is not None and "stop it first" in running


def test_retry_and_export_name_one_batch_or_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYSQL_DATABASE", "d")
    monkeypatch.setenv("MYSQL_USER", "u")
    monkeypatch.delenv("INGEST_SINK", raising=False)
    assert batches.main(["retry", "--checkpoint-dir", str(tmp_path)]) == 2
    assert batches.main(["export", "1", "--refused", "--checkpoint-dir", str(tmp_path)]) == 2
    root = checkpoint(tmp_path / "cp", planned=2, committed=1, mtime=time.time())
    # The pending batch is set aside only with a reason; retrying it is the stream's job.
    assert batches.main(["export", "2", "--checkpoint-dir", str(root)]) == 2
    assert batches.main(["retry", "2", "--checkpoint-dir", str(root)]) == 0


# --- the health verdict and the dashboard -----------------------------------------------------

LIMITS = Limits(max_age=300)
ALIVE = LastRun("20260101_120000", "running", recorded_s_ago=30)
CLEAN = RecentRejects(batches=20, rows_read=420, rows_rejected=0)


def held(seconds: float) -> PendingBatch:
    return PendingBatch(17, QUERY, datetime(2025, 3, 1, 12, 0, tzinfo=UTC), seconds)


def test_a_batch_pending_too_long_is_unhealthy() -> None:
    fresh = LastBatch(5, 25)
    assert verdict(Observed(fresh, 0, CLEAN, ALIVE, held(301)), LIMITS) == (
        False,
        "batch 17 pending for 301 s (max 300 s), 0 file(s) waiting: see ingest-batches list",
    )
    healthy, reason = verdict(Observed(fresh, 0, CLEAN, ALIVE, held(2)), LIMITS)
    assert healthy and "batch 17 pending for 2 s" in reason
    stopped = Limits(max_age=300, allow_stopped=True)
    assert not verdict(Observed(fresh, None, CLEAN, None, held(3600)), stopped)[0]
    failed = LastRun("r", "failed", 10)
    assert verdict(Observed(fresh, None, CLEAN, failed, held(3600)), LIMITS) == (
        False,
        "the stream is not running: run r failed, batch 17 pending for 3600 s",
    )


def test_the_dashboard_shows_the_pending_batch() -> None:
    now = datetime(2025, 3, 1, 12, 4)
    run = ("r", "running", now - timedelta(seconds=5), now - timedelta(hours=1))
    batch_row = (now - timedelta(seconds=1), 1, 1, 0, 1, 1, 1, 1, 1, 2, 0, 1)
    shot = build_snapshot(
        Fetched(batches=[batch_row], last_run=run, checkpoint_read=True, pending=held(0)), now
    )
    assert shot["checkpoint"] == {
        "pending_batch": {
            "batch_id": 17,
            "query_id": QUERY,
            "since": "2025-03-01T12:00:00.000Z",
            "pending_s": 240.0,
        }
    }
    assert shot["stream"]["state"] == "running"
    late = build_snapshot(
        Fetched(batches=[batch_row], last_run=run, checkpoint_read=True, pending=held(0)),
        now + timedelta(minutes=2),
        Limits(max_age=300),
    )
    assert late["stream"]["state"] == "stuck"
    assert late["health"]["healthy"] is False
    assert build_snapshot(Fetched(checkpoint_read=True), now)["checkpoint"] == {
        "pending_batch": None
    }
    assert build_snapshot(Fetched(), now)["checkpoint"] is None


def test_stream_state_counts_a_pending_batch() -> None:
    assert stream_state(LastBatch(5, 6), 0, ALIVE, 60.0, LIMITS, 301.0) == "stuck"
    assert stream_state(LastBatch(5, 6), 0, ALIVE, 60.0, LIMITS, 30.0) == "running"
    assert stream_state(None, 0, None, None, LIMITS, 9999.0) == "stopped"
