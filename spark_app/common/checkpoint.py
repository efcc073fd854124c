"""The stream's progress as its local Spark checkpoint records it: the query id and the batch
that is planned but not committed.

Spark writes `offsets/<N>` when it plans micro-batch N and `commits/<N>` once foreachBatch
returned, so the highest N with an offsets file and no commit file is the batch a restart runs
first. A batch the database refused as a whole stays there: that is how a stopped stream is
seen from outside. Reads two folder listings and one file's time; never Spark.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from spark_app.common.paths import local_path


@dataclass(frozen=True)
class PendingBatch:
    """A planned micro-batch without a commit: its id, its query, and since when."""

    batch_id: int
    query_id: str | None
    since: datetime  # the offsets file's modification time, UTC
    pending_s: float


def _numbered(folder: Path) -> set[int]:
    """The batch numbers of a log folder (`0`, `1`, …; not `.0.crc` or temporary files)."""
    try:
        with os.scandir(folder) as entries:
            return {int(entry.name) for entry in entries if entry.name.isdecimal()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def query_id(checkpoint_dir: str) -> str | None:
    """The query id of a local checkpoint (its `metadata` file), None when unknown."""
    root = local_path(checkpoint_dir)
    if root is None:
        return None
    try:
        found = json.loads((root / "metadata").read_text("utf-8")).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(found) if found else None


def pending_batch(checkpoint_dir: str, now: float | None = None) -> PendingBatch | None:
    """The checkpoint's planned, uncommitted batch; None when every batch is committed, the
    checkpoint does not exist yet, or it is not a local folder."""
    root = local_path(checkpoint_dir)
    if root is None:
        return None
    planned = _numbered(root / "offsets")
    if not planned:
        return None
    latest = max(planned)
    if latest in _numbered(root / "commits"):
        return None
    try:
        modified = (root / "offsets" / str(latest)).stat().st_mtime
    except FileNotFoundError:
        return None  # purged or committed meanwhile
    moment = time.time() if now is None else now
    return PendingBatch(
        latest,
        query_id(checkpoint_dir),
        datetime.fromtimestamp(modified, UTC),
        max(0.0, moment - modified),
    )


def describe_age(seconds: float) -> str:
    """A duration as a person reads it: `42 s`, `4 min`, `3.5 h`, `2.0 d`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"
