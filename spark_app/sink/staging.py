"""Durable staging of collected batches next to the checkpoint, for the background commit.

foreachBatch may return, and Spark commit the batch's offsets, before the database commit only
once the batch's rows are safe on disk: one Arrow IPC file per batch in `<checkpoint>/staged/`,
written under a temporary name, fsynced, renamed, and the folder fsynced. A restart commits
every staged file first (a batch already recorded in ingest_batches is skipped), so a crash
between Spark's commit and the database's loses nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from spark_app.common.paths import local_path
from spark_app.sink.batch import BatchKey, FileEntry

FOLDER = "staged"
SUFFIX = ".arrow"
_METADATA = b"ingest.batch"


@dataclass(frozen=True)
class StagedBatch:
    """A collected batch as it was staged: its key, its rows, the files its source listed."""

    path: Path
    key: BatchKey
    table: pa.Table
    listed: list[FileEntry]


def local_folder(checkpoint_dir: str) -> Path | None:
    """`<checkpoint>/staged` for a local checkpoint; None for a remote one (hdfs://, s3a://)."""
    root = local_path(checkpoint_dir)
    return None if root is None else root / FOLDER


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Staging:
    """The staged batches of one checkpoint."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save(self, key: BatchKey, table: pa.Table, listed: list[FileEntry]) -> Path:
        """Write the batch durably; returns its file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        about = {
            "query_id": key.query_id,
            "batch_id": key.batch_id,
            "listed": [[e.path, e.modified.isoformat(), e.records] for e in listed],
        }
        schema = table.schema.with_metadata({_METADATA: json.dumps(about).encode()})
        final = self.folder / f"{key.batch_id:012d}{SUFFIX}"
        temporary = self.folder / f".{final.name}.tmp"
        with open(temporary, "wb") as sink:
            with ipc.new_file(sink, schema) as writer:
                writer.write_table(table.replace_schema_metadata(schema.metadata))
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, final)
        _fsync_folder(self.folder)
        return final

    def pending(self) -> list[Path]:
        """Staged files not yet removed, oldest batch first; half-written ones are dropped (their
        batch was never handed back to Spark, which runs it again)."""
        if not self.folder.is_dir():
            return []
        for partial in self.folder.glob(f".*{SUFFIX}.tmp"):
            partial.unlink(missing_ok=True)
        return sorted(self.folder.glob(f"*{SUFFIX}"))

    @staticmethod
    def load(path: Path) -> StagedBatch:
        """Read a staged file back."""
        with ipc.open_file(path) as reader:
            table = reader.read_all()
        about = json.loads((table.schema.metadata or {})[_METADATA])
        listed = [
            FileEntry(name, datetime.fromisoformat(modified), int(records))
            for name, modified, records in about["listed"]
        ]
        key = BatchKey(str(about["query_id"]), int(about["batch_id"]))
        return StagedBatch(path, key, table.replace_schema_metadata(None), listed)

    def remove(self, path: Path) -> None:
        """Forget a staged file once its batch is recorded in the database."""
        path.unlink(missing_ok=True)
