"""Files waiting in the drop folder: the backlog that the stream has not committed yet."""

from __future__ import annotations

import os
import time
from pathlib import Path

# newest_file_age_s is stored to the millisecond: allow for its rounding.
_ROUNDING_SECONDS = 0.002


def is_visible(name: str) -> bool:
    """Whether the stream reads a file of this name (*.csv, not hidden or temporary)."""
    return name.endswith(".csv") and not name.startswith((".", "_"))


def waiting_files(
    input_dir: Path, newest_done_s_ago: float | None, now: float | None = None
) -> int:
    """*.csv files modified after the newest file of the last committed batch.

    The file source takes files oldest first (by modification time), so a later file has not
    been committed yet. With `newest_done_s_ago` None (nothing committed yet) every visible file
    counts; with an archive folder the processed files leave the folder, and the count is the
    same. A missing folder holds nothing.
    """
    cutoff = None
    if newest_done_s_ago is not None:
        cutoff = (time.time() if now is None else now) - newest_done_s_ago + _ROUNDING_SECONDS
    count = 0
    try:
        entries = os.scandir(input_dir)
    except FileNotFoundError:
        return 0
    with entries:
        for entry in entries:
            if not is_visible(entry.name) or not entry.is_file():
                continue
            try:
                modified = entry.stat().st_mtime
            except FileNotFoundError:
                continue  # moved away (archived) meanwhile
            if cutoff is None or modified > cutoff:
                count += 1
    return count
