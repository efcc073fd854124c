"""The files Spark's file source put in a micro-batch, read from a local checkpoint.

The batch's rows name the files they came from, but a 0-byte file gives no row at all, so the
file list comes from the checkpoint. `offsets/<batch>` ends with the source's offset (the
`logOffset` of its own log); the batch holds the source log's entries after the previous
batch's offset up to its own. The two numberings part after a restart that re-plans a batch,
so a micro-batch id is never a source log id. The source log (`sources/0/<n>`, every tenth a
`<n>.compact` holding the earlier entries too) has a version line, then one JSON entry per
file: path, timestamp (ms), batchId.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from spark_app.common.paths import local_path
from spark_app.sink.batch import FileEntry

_COMPACT = re.compile(r"^(\d+)\.compact$")
_BATCH_ID = re.compile(r'"batchId":\s*(\d+)')


def _log_offset(offsets: Path, batch_id: int) -> int | None:
    """The file source's log offset at the end of this micro-batch, or None if unknown."""
    try:
        lines = (offsets / str(batch_id)).read_text("utf-8").splitlines()
    except OSError:
        return None
    try:
        return int(json.loads(lines[-1])["logOffset"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _entries(path: Path, wanted: range) -> list[dict[str, object]]:
    """The entries of these source batches. A compact file holds every file ever read (100,000
    files: 10 MB), so a line is parsed only when its batchId is wanted (inside a JSON string a
    quote is escaped: `"batchId":` there is always the key)."""
    try:
        lines = path.read_text("utf-8").splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        match = _BATCH_ID.search(line)
        keep = line.strip() != "" if match is None else int(match[1]) in wanted
        if keep:
            found.append(json.loads(line))
    return found


def batch_files(checkpoint_dir: str, batch_id: int) -> list[FileEntry]:
    """The files of this micro-batch; empty for a remote checkpoint or a log it cannot read."""
    root = local_path(checkpoint_dir)
    if root is None:
        return []
    end = _log_offset(root / "offsets", batch_id)
    if end is None:
        return []
    start = -1 if batch_id == 0 else _log_offset(root / "offsets", batch_id - 1)
    if start is None:
        return []
    wanted = range(start + 1, end + 1)
    log = root / "sources" / "0"
    found: list[dict[str, object]] = []
    missing = []
    for number in wanted:
        if (log / str(number)).exists():
            found += _entries(log / str(number), wanted)
        else:
            missing.append(number)
    if missing:
        # Compacted away: the first compact file at or after them holds their entries.
        compacts = sorted(
            int(match.group(1))
            for name in (p.name for p in log.iterdir())
            if (match := _COMPACT.match(name))
        )
        later = [number for number in compacts if number >= min(missing)]
        if later:
            found += _entries(log / f"{later[0]}.compact", wanted)
    return [
        FileEntry(
            _as_source_path(str(entry["path"])),
            datetime.fromtimestamp(int(str(entry["timestamp"])) / 1000, UTC).replace(tzinfo=None),
            0,
        )
        for entry in found
        if int(str(entry.get("batchId", -1))) in wanted
    ]


def _as_source_path(path: str) -> str:
    """The log's URI (`file:///a%20b.csv`) as the scan names the file (`file:/a b.csv`)."""
    if path.startswith("file:///"):
        path = "file:/" + path.removeprefix("file:///")
    return unquote(path)
