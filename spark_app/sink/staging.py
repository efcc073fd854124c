"""Batches staged next to the checkpoint by an earlier release (its background commit).

Such a release handed a batch back to Spark once its rows were safe in `<checkpoint>/staged/`
(one Arrow IPC file per batch), so Spark may have committed offsets the database has not seen.
Every start commits those files first, whatever the flags (a batch already recorded in
ingest_batches is skipped), then removes them. The current release commits inside foreachBatch
and stages nothing.
"""

from __future__ import annotations

import json
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
# The only format ever staged (files without a version are of it).
FORMAT_VERSION = 1


class StagedFileError(RuntimeError):
    """A staged file cannot be read back; the message names it."""


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


class Staging:
    """The staged batches of one checkpoint."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

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
        """Read a staged file back; StagedFileError names a file that cannot be read."""
        try:
            with ipc.open_file(path) as reader:
                table = reader.read_all()
            about = json.loads((table.schema.metadata or {})[_METADATA])
        except (OSError, KeyError, ValueError, pa.ArrowInvalid) as exc:
            raise StagedFileError(
                f"staged batch {path} cannot be read ({exc}): move it aside and restart;"
                " its files, if still in the drop folder, can be dropped again under new names"
            ) from None
        if int(about.get("version", 1)) != FORMAT_VERSION:
            raise StagedFileError(f"staged batch {path} has format {about['version']}, not 1")
        listed = [
            FileEntry(name, datetime.fromisoformat(modified), int(records))
            for name, modified, records in about["listed"]
        ]
        key = BatchKey(str(about["query_id"]), int(about["batch_id"]))
        return StagedBatch(path, key, table.replace_schema_metadata(None), listed)

    def remove(self, path: Path) -> None:
        """Forget a staged file once its batch is recorded in the database."""
        path.unlink(missing_ok=True)
