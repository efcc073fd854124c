"""Where run records are kept: the JSON history file and the `pipeline_runs` table.

The history file is a JSON list of records, rewritten atomically (common.files.write_atomically)
under an exclusive lock (`<file>.lock`), so a reader never sees half a file and two writers never
lose each other's records.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spark_app.common.files import write_atomically
from spark_app.runhistory.record import RunRecord

DEFAULT_HISTORY_FILE = "runs/history.json"
HISTORY_ENV = "RUN_HISTORY_FILE"

_COLUMNS = (
    "run_id, started_at, recorded_at, state, schema_version, sources_processed,"
    " total_duration_seconds, total_records, throughput_rpm, quality_pass_rate, retries, errors,"
    " cpu_peak_percent, cpu_avg_percent, memory_peak_mb, memory_avg_mb, disk_read_mb,"
    " disk_write_mb, python_version, hostname, os_name, os_version, cpu_cores, total_memory_mb"
)
_VALUES = ", ".join(["%s"] * 24)


class HistoryError(RuntimeError):
    """The history file cannot be read or written; the message names it."""


class DuplicateRunError(ValueError):
    """A run id is recorded already."""


def history_path(environ: Mapping[str, str] | None = None) -> Path:
    """The history file: RUN_HISTORY_FILE, else runs/history.json."""
    env = os.environ if environ is None else environ
    return Path(env.get(HISTORY_ENV, "").strip() or DEFAULT_HISTORY_FILE)


def read_history(path: Path) -> list[dict[str, Any]]:
    """The records in the history file; [] when it does not exist yet."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HistoryError(f"cannot read {path}: {exc.strerror}") from None
    try:
        records = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise HistoryError(f"{path} must hold a JSON list of run records")
    return records


def history_run_ids(path: Path) -> set[str]:
    """The run ids already in the history file."""
    return {str(record.get("run_id")) for record in read_history(path)}


@contextmanager
def history_lock(path: Path) -> Iterator[None]:
    """Exclusive access to the history file (for a read-modify-write)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")
    except OSError as exc:
        raise HistoryError(f"cannot lock {path}: {exc.strerror}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def write_history(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace the history file's content atomically."""
    text = json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    except OSError as exc:
        raise HistoryError(f"cannot write {path}: {exc.strerror}") from None


def save_to_history(path: Path, record: dict[str, Any]) -> None:
    """Put the app's own record in the file, replacing an earlier version of the same run."""
    with history_lock(path):
        records = [r for r in read_history(path) if r.get("run_id") != record["run_id"]]
        write_history(path, [*records, record])


def append_to_history(path: Path, new: list[dict[str, Any]]) -> None:
    """Append imported records; DuplicateRunError (file untouched) if one is there already."""
    with history_lock(path):
        records = read_history(path)
        known = {r.get("run_id") for r in records}
        repeated = [r["run_id"] for r in new if r.get("run_id") in known]
        if repeated:
            raise DuplicateRunError(f"run_id {', '.join(repeated)} already in {path}")
        write_history(path, [*records, *new])


def _utc_naive(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp).astimezone(UTC).replace(tzinfo=None)


def _row(record: RunRecord, state: str) -> tuple[Any, ...]:
    res, env = record.resource_metrics, record.environment
    return (
        record.run_id,
        _utc_naive(record.timestamp),
        datetime.now(UTC).replace(tzinfo=None),
        state,
        record.schema_version,
        record.sources_processed,
        record.total_duration_seconds,
        record.total_records,
        record.throughput_rpm,
        record.quality_pass_rate,
        record.retries,
        record.errors,
        res.cpu.peak_percent if res else None,
        res.cpu.avg_percent if res else None,
        res.memory.peak_mb if res else None,
        res.memory.avg_mb if res else None,
        res.disk.read_mb if res else None,
        res.disk.write_mb if res else None,
        env.python_version if env else None,
        env.hostname if env else None,
        env.os if env else None,
        env.os_version if env else None,
        env.cpu_cores if env else None,
        env.total_memory_mb if env else None,
    )


def upsert_run(handle: Any, record: RunRecord, state: str) -> None:
    """Insert the run's row, or update it (the app's periodic and final records).

    A read then an UPDATE or INSERT, the same on every database: one writer owns a run id.
    """
    columns = [c.strip() for c in _COLUMNS.split(",")]
    row = _row(record, state)
    cursor = handle.cursor()
    cursor.execute("SELECT 1 FROM pipeline_runs WHERE run_id = %s", (record.run_id,))
    if cursor.fetchone() is None:
        cursor.execute(f"INSERT INTO pipeline_runs ({_COLUMNS}) VALUES ({_VALUES})", row)
    else:
        updates = ", ".join(f"{column} = %s" for column in columns[1:])
        cursor.execute(
            f"UPDATE pipeline_runs SET {updates} WHERE run_id = %s", (*row[1:], record.run_id)
        )
    handle.commit()


def existing_runs(handle: Any, run_ids: Iterable[str]) -> set[str]:
    """Which of these run ids pipeline_runs holds already."""
    ids = list(run_ids)
    if not ids:
        return set()
    cursor = handle.cursor()
    marks = ", ".join(["%s"] * len(ids))
    cursor.execute(f"SELECT run_id FROM pipeline_runs WHERE run_id IN ({marks})", tuple(ids))
    found = {str(row[0]) for row in cursor.fetchall()}
    handle.commit()
    return found


def insert_runs(handle: Any, records: list[RunRecord], state: str) -> None:
    """Insert imported records in one transaction; a run id already there fails it whole."""
    cursor = handle.cursor()
    try:
        for record in records:
            cursor.execute(
                f"INSERT INTO pipeline_runs ({_COLUMNS}) VALUES ({_VALUES})", _row(record, state)
            )
        handle.commit()
    except BaseException:
        handle.rollback()
        raise


def delete_runs(handle: Any, run_ids: list[str]) -> None:
    """Take back rows of runs (an import whose history file could not be written)."""
    cursor = handle.cursor()
    for run_id in run_ids:
        cursor.execute("DELETE FROM pipeline_runs WHERE run_id = %s", (run_id,))
    handle.commit()
