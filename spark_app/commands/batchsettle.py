"""`ingest-batches export` and `retry`: settle a pending batch without losing it, and send
refused rows back to the stream.

A pending batch is copied to the dead-letter folder first and recorded second, so a failure at
any point leaves the batch pending (a restart still retries it) and at most a copy behind,
which the next `export` reuses. Refused rows stay in the quarantine; `retry` drops a copy of
them into the input folder once.
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spark_app.commands import batchstore, deadletter
from spark_app.commands.batchstore import RefusedBatch, RunInfo
from spark_app.common.checkpoint import PendingBatch
from spark_app.common.database import DatabaseSettings
from spark_app.common.exits import EXIT_FAILED
from spark_app.common.paths import local_path
from spark_app.sink import dialect_for
from spark_app.sink.batch import BatchKey, FileEntry
from spark_app.sink.sourcelog import batch_files


class CommandError(Exception):
    """Ends the command with an exit code (EXIT_FAILED: the action was refused) and one message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def label(key: BatchKey) -> str:
    """A batch as the command line names it: QUERY_ID:BATCH_ID."""
    return f"{key.query_id}:{key.batch_id}"


def stream_running(run: RunInfo | None, max_heartbeat_age: float) -> str | None:
    """Why the stream counts as running (its run record says so and is fresh), or None.

    The run record is what every host sees (the checkpoint holds no lock): a stream that was
    killed leaves `running` behind, and counts as stopped once its record is older than
    `max_heartbeat_age`, as ingest-health judges it.
    """
    if run is None or run.state != "running" or run.recorded_s_ago > max_heartbeat_age:
        return None
    return (
        f"the stream is running (run {run.run_id}, its record refreshed"
        f" {run.recorded_s_ago:.0f} s ago): stop it first; a stream that was killed counts as"
        f" stopped once its record is {max_heartbeat_age:g} s old (--max-heartbeat-age)"
    )


def _pending_files(checkpoint: str, pending: PendingBatch) -> list[FileEntry]:
    entries = batch_files(checkpoint, pending.batch_id)
    if not entries:
        raise CommandError(
            EXIT_FAILED,
            f"cannot list batch {pending.batch_id}'s files from {checkpoint}/sources/0",
        )
    return entries


def export_pending(
    settings: DatabaseSettings,
    checkpoint: str,
    pending: PendingBatch,
    dead_letter: Path,
    reason: str,
    *,
    allow_missing: bool,
    max_heartbeat_age: float,
) -> str:
    """Copy the pending batch's files to the dead-letter folder, then record it as settled."""
    if pending.query_id is None:
        raise CommandError(EXIT_FAILED, f"{checkpoint}/metadata does not name the query id")
    key = BatchKey(pending.query_id, pending.batch_id)
    dialect = dialect_for(settings)
    try:
        with closing(dialect.connect()) as connection:
            running = stream_running(batchstore.latest_run(connection), max_heartbeat_age)
            if running:
                raise CommandError(EXIT_FAILED, running)
            if batchstore.recorded(connection, key) is not None:
                raise CommandError(
                    EXIT_FAILED,
                    f"batch {key.batch_id} is recorded in ingest_batches already:"
                    " the next start of the stream skips it",
                )
            entries = _pending_files(checkpoint, pending)
            folder = deadletter.entry_folder(dead_letter, key)
            manifest = deadletter.read_manifest(folder)
            copied = "already copied to"
            if manifest is None:
                manifest = _copy_pending(key, entries, dead_letter, reason, allow_missing)
                copied = "copied to"
            elif manifest.get("kind") != deadletter.PENDING_BATCH:
                raise CommandError(EXIT_FAILED, f"{folder} holds something else: move it")
            run_id = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
            listed = [FileEntry(entry.path, entry.modified, 0) for entry in entries]
            if not batchstore.record_set_aside(dialect, connection, key, listed, run_id):
                raise CommandError(
                    EXIT_FAILED,
                    f"batch {key.batch_id} was recorded meanwhile (by the stream?): nothing"
                    f" recorded; the copy in {folder} stays",
                )
    finally:
        dialect.close()
    count = len(manifest.get("files", []))
    return (
        f"batch {key.batch_id} ({key.query_id}): {count} file(s) {copied} {folder}"
        f" ({deadletter.MANIFEST}); recorded in ingest_batches as"
        f" {batchstore.DEAD_LETTER_PATH}: the next start of the stream skips it"
    )


def _copy_pending(
    key: BatchKey, entries: list[FileEntry], dead_letter: Path, reason: str, allow_missing: bool
) -> dict[str, Any]:
    present: list[tuple[str, Path]] = []
    missing: list[str] = []
    for entry in entries:
        local = local_path(entry.path)
        if local is None:
            raise CommandError(EXIT_FAILED, f"{entry.path} is not a local file")
        if local.is_file():
            present.append((entry.path, local))
        else:
            missing.append(entry.path)
    if missing and not allow_missing:
        raise CommandError(
            EXIT_FAILED,
            f"{len(missing)} of the batch's files are gone ({missing[0]} …): nothing copied or"
            " recorded; pass --allow-missing to set the batch aside without them",
        )
    now = datetime.now(UTC)
    return deadletter.export_files(dead_letter, key, present, missing, reason, now)


def export_refused(
    connection: Any, batch: RefusedBatch, dead_letter: Path, reason: str
) -> dict[str, Any]:
    """The batch's refused rows into the dead-letter folder (the quarantine rows stay)."""
    folder = deadletter.entry_folder(dead_letter, batch.key)
    manifest = deadletter.read_manifest(folder)
    if manifest is not None:
        if manifest.get("kind") != deadletter.REFUSED_ROWS:
            raise CommandError(EXIT_FAILED, f"{folder} holds something else: move it")
        return manifest
    rows = batchstore.refused_rows(connection, batch.key)
    return deadletter.export_refused(dead_letter, batch.key, rows, reason, datetime.now(UTC))


def exported_line(batch: RefusedBatch, manifest: dict[str, Any], folder: Path) -> str:
    unsplit = int(manifest.get("unsplit", 0))
    note = f", {unsplit} only in {deadletter.QUARANTINE} (a value holds a comma)" if unsplit else ""
    return f"{label(batch.key)}: {manifest['rows']} refused row(s) in {folder}{note}"


def retry_refused(
    connection: Any, batch: RefusedBatch, dead_letter: Path, input_dir: Path, reason: str
) -> str:
    """Drop the batch's refused rows into the input folder as new files, once.

    A batch is retried once: `retried.json` in its dead-letter entry, or a retry file of it
    still in the input folder (a retry interrupted before its marker), refuses a second time.
    Rows refused again land in a new batch, which can be retried in turn.
    """
    key = batch.key
    folder = deadletter.entry_folder(dead_letter, key)
    done = deadletter.read_retried(folder)
    if done is not None:
        raise CommandError(
            EXIT_FAILED,
            f"{label(key)} was retried at {done.get('retried_at')} as"
            f" {', '.join(done.get('files', []))}: rows refused again are in a later batch",
        )
    earlier = sorted(input_dir.glob(f"retry_{key.query_id}-{key.batch_id}_*.csv"))
    if earlier:
        raise CommandError(EXIT_FAILED, f"{label(key)}: {earlier[0]} is in the input folder")
    manifest = export_refused(connection, batch, dead_letter, reason)
    if int(manifest.get("unsplit", 0)):
        raise CommandError(
            EXIT_FAILED,
            f"{label(key)}: {manifest['unsplit']} row(s) do not split back into fields (a value"
            f" holds a comma and its file is gone): see {folder / deadletter.QUARANTINE};"
            " nothing retried",
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    input_dir.mkdir(parents=True, exist_ok=True)
    dropped = []
    started = time.time()
    for step, entry in enumerate(deadletter.retry_files(manifest)):
        kind = entry["kind"]
        name = f"retry_{key.query_id}-{key.batch_id}_{stamp}"
        name += ".csv" if kind == "events" else f"_{kind}.csv"
        hidden = input_dir / f".{name}.tmp"  # a name the stream ignores until the rename
        hidden.unlink(missing_ok=True)
        deadletter.copy_file(folder / entry["name"], hidden)
        # A new arrival, in the order retry_files gives (dimensions before events).
        moment = started + step * 0.01
        os.utime(hidden, (moment, moment))
        os.rename(hidden, input_dir / name)
        dropped.append(name)
    deadletter.fsync_folder(input_dir)  # the files are there before the marker says so
    deadletter.write_json(
        folder / deadletter.RETRIED,
        {
            "format": deadletter.FORMAT_VERSION,
            "query_id": key.query_id,
            "batch_id": key.batch_id,
            "retried_at": deadletter.iso(datetime.now(UTC)),
            "reason": reason,
            "input_dir": str(input_dir),
            "files": dropped,
            "rows": int(manifest["rows"]),
        },
    )
    return (
        f"{label(key)}: {manifest['rows']} refused row(s) dropped into {input_dir} as"
        f" {', '.join(dropped)}; the stream takes them at its next trigger (rows refused again"
        " are quarantined in a new batch)"
    )


def explain_pending(pending: PendingBatch, checkpoint: str, sink: str) -> str:
    """What `retry` says about the pending batch: the stream retries it itself."""
    return (
        f"batch {pending.batch_id} is pending in {checkpoint}: the stream retries it first"
        " when it starts. Fix the cause its last log line names, then start it as before:\n"
        f"  spark-submit spark_app/main.py --sink {sink} --checkpoint-dir {checkpoint}"
        " [your other flags]\n"
        f"or set it aside: ingest-batches export {pending.batch_id} --reason …"
    )
