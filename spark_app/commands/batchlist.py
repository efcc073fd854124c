"""What `ingest-batches list` shows: the checkpoint's pending batch, batches an earlier release
staged, and the batches with rows the database refused, as JSON-ready data and as text.

Reads only: the checkpoint's files, the staged files, the dead-letter folder and the sink.
Nothing here removes or changes a file or a row.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from spark_app.commands import batchstore, deadletter
from spark_app.commands.batchstore import RefusedBatch, RunInfo
from spark_app.common.checkpoint import PendingBatch, describe_age, pending_batch, query_id
from spark_app.common.database import DatabaseSettings
from spark_app.common.exits import EXIT_FAILED, EXIT_OK
from spark_app.common.paths import local_path
from spark_app.sink.batch import BatchKey
from spark_app.sink.drivers import connect, database_errors, is_missing_table
from spark_app.sink.sourcelog import batch_files
from spark_app.sink.staging import SUFFIX, StagedFileError, Staging, local_folder


def _when(moment: datetime) -> str:
    return deadletter.iso(moment).replace(".000000Z", "Z")


def _pending_part(
    pending: PendingBatch | None, checkpoint: str, record: tuple[datetime, str] | None
) -> dict[str, Any] | None:
    if pending is None:
        return None
    files = []
    for entry in batch_files(checkpoint, pending.batch_id):
        local = local_path(entry.path)
        size = local.stat().st_size if local is not None and local.is_file() else None
        files.append({"path": entry.path, "size": size, "exists": size is not None})
    return {
        "batch_id": pending.batch_id,
        "query_id": pending.query_id,
        "pending_since": _when(pending.since),
        "pending_s": round(pending.pending_s, 1),
        "files": files,
        "recorded": None
        if record is None
        else {"committed_at": _when(record[0]), "write_path": record[1]},
    }


def _staged_part(checkpoint: str) -> list[dict[str, Any]]:
    """Batches an earlier release staged (read only: nothing is removed here)."""
    folder = local_folder(checkpoint)
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            key = Staging.load(path).key
            found.append({"path": str(path), "query_id": key.query_id, "batch_id": key.batch_id})
        except StagedFileError as exc:
            found.append({"path": str(path), "error": str(exc)})
    return found


def _refused_part(batches: list[RefusedBatch], dead_letter: Path) -> list[dict[str, Any]]:
    found = []
    for batch in batches:
        folder = deadletter.entry_folder(dead_letter, batch.key)
        manifest = deadletter.read_manifest(folder)
        retried = deadletter.read_retried(folder)
        found.append(
            {
                "query_id": batch.key.query_id,
                "batch_id": batch.key.batch_id,
                "rows": batch.rows,
                "first_detail": batch.first_detail,
                "first_rejected_at": _when(batch.first_at),
                "exported": None if manifest is None else str(folder),
                "retried": None if retried is None else retried.get("files"),
            }
        )
    return found


def _run_part(run: RunInfo | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.run_id,
        "state": run.state,
        "recorded_at": _when(run.recorded_at),
        "errors": run.errors,
    }


def inventory(
    settings: DatabaseSettings, checkpoint: str, dead_letter: Path, now: float | None = None
) -> dict[str, Any]:
    """Everything `list` shows, as JSON-ready data, with its exit code under "exit"."""
    pending = pending_batch(checkpoint, now)
    record, refused, run, tables = None, [], None, True
    with connect(settings) as connection:
        try:
            if pending is not None and pending.query_id is not None:
                key = BatchKey(pending.query_id, pending.batch_id)
                record = batchstore.recorded(connection, key)
            refused = batchstore.refused_batches(connection)
            run = batchstore.latest_run(connection)
        except database_errors() as exc:
            if not is_missing_table(exc):
                raise
            tables = False
    report: dict[str, Any] = {
        "checkpoint_dir": checkpoint,
        "local_checkpoint": local_path(checkpoint) is not None,
        "query_id": query_id(checkpoint),
        "pending_batch": _pending_part(pending, checkpoint, record),
        "last_run": _run_part(run),
        "staged": _staged_part(checkpoint),
        "refused": _refused_part(refused, dead_letter),
        "dead_letter_dir": str(dead_letter),
        "tables": tables,
    }
    unsettled = report["pending_batch"] is not None and record is None
    unhandled = [b for b in report["refused"] if not b["exported"] and not b["retried"]]
    report["exit"] = EXIT_FAILED if unsettled or report["staged"] or unhandled else EXIT_OK
    return report


def _run_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "no run of the stream is recorded in pipeline_runs"
    known = f"run {run['run_id']} {run['state']}, record written {run['recorded_at']}"
    if run["state"] == "running":
        return f"{known}: the pending batch may be the one in flight (or the run was killed)"
    if run["state"] == "failed":
        return (
            f"{known}, {run['errors']} error(s); the run record keeps no error text: the"
            " stream's last log line (`stream stopped: …`) names the cause"
        )
    return known


def render(report: dict[str, Any]) -> str:
    """`list` as text."""
    lines = [f"checkpoint {report['checkpoint_dir']} (query {report['query_id'] or 'unknown'})"]
    if not report["local_checkpoint"]:
        lines.append("  not a local folder: its pending batch cannot be read from here")
    pending = report["pending_batch"]
    if pending is None:
        lines.append("pending: none (every planned batch is committed)")
    else:
        lines.append(
            f"pending: batch {pending['batch_id']}, for {describe_age(pending['pending_s'])}"
            f" (planned {pending['pending_since']}), {len(pending['files'])} file(s):"
        )
        for entry in pending["files"]:
            size = "missing" if entry["size"] is None else f"{entry['size']} bytes"
            lines.append(f"  {entry['path']} ({size})")
        recorded = pending["recorded"]
        if recorded is None:
            lines.append(
                "  not recorded in ingest_batches: starting the stream retries it first;"
                f" or set it aside: ingest-batches export {pending['batch_id']} --reason …"
            )
        else:
            lines.append(
                f"  recorded in ingest_batches ({recorded['write_path']},"
                f" {recorded['committed_at']}): the next start only skips it"
            )
        lines.append(f"  {_run_line(report['last_run'])}")
    staged = report["staged"]
    lines.append(f"staged by an earlier release: {len(staged) or 'none'}")
    for entry in staged:
        if "error" in entry:
            lines.append(f"  {entry['path']}: {entry['error']}")
        else:
            lines.append(
                f"  {entry['path']}: batch {entry['query_id']}:{entry['batch_id']},"
                " committed first at the next start"
            )
    refused = report["refused"]
    if not report["tables"]:
        lines.append("refused rows: the sink's tables do not exist yet")
    lines.append(f"refused rows: {len(refused) or 'none'}" + (" batch(es)" if refused else ""))
    for batch in refused:
        if batch["retried"]:
            state = f"retried as {', '.join(batch['retried'])}"
        elif batch["exported"]:
            state = f"exported to {batch['exported']}"
        else:
            state = "not exported, not retried"
        lines.append(
            f"  {batch['query_id']}:{batch['batch_id']}: {batch['rows']} row(s) refused at"
            f" {batch['first_rejected_at']}, first: {batch['first_detail']} [{state}]"
        )
    lines.append(_summary(report))
    return "\n".join(lines)


def _summary(report: dict[str, Any]) -> str:
    """The last line: what is left to do."""
    todo = []
    pending = report["pending_batch"]
    if pending is not None and pending["recorded"] is None:
        todo.append(
            f"batch {pending['batch_id']} pending: fix its cause and start the stream, or"
            f" export {pending['batch_id']}"
        )
    if report["staged"]:
        todo.append(f"{len(report['staged'])} staged batch(es): start the stream")
    unhandled = [b for b in report["refused"] if not b["exported"] and not b["retried"]]
    if unhandled:
        todo.append(f"{len(unhandled)} refused batch(es): retry or export them")
    return "to do: " + "; ".join(todo) if todo else "nothing to do"
