"""Atomic file drop: write under a name the stream ignores, fsync, then rename into place."""

import contextlib
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TextIO

# The stream ignores names starting with "." and not ending in ".csv": a temp file is both.
TEMP_PREFIX: Final = "."
TEMP_SUFFIX: Final = ".tmp"


def temp_name(name: str) -> str:
    """Return the hidden name a file is written under before it is renamed to ``name``."""
    return f"{TEMP_PREFIX}{name}{TEMP_SUFFIX}"


def drop_file_name(moment: datetime, seq: int, prefix: str = "events") -> str:
    """Return ``<prefix>_<UTC yyyymmdd_HHMMSS_ffffff>_<seq:06d>.csv``."""
    return f"{prefix}_{moment.astimezone(UTC):%Y%m%d_%H%M%S_%f}_{seq:06d}.csv"


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; skipped where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def drop_atomic(directory: Path, name: str, write: Callable[[TextIO], object]) -> Path:
    """Write a UTF-8 text file with ``write`` so that ``directory/name`` appears only complete."""
    final = directory / name
    temp = directory / temp_name(name)
    # Opened outside the try: if the temp name is taken, that file is not ours to remove.
    out = temp.open("x", encoding="utf-8", newline="")
    try:
        with out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return final


def _utc_now() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


class FileDropper:
    """Drops numbered files atomically into one directory, named so they sort in write order."""

    def __init__(
        self,
        directory: Path,
        *,
        prefix: str = "events",
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.directory = directory
        self._prefix = prefix
        self._clock = clock
        self._seq = 0
        self._last_moment: datetime | None = None

    def drop(self, write: Callable[[TextIO], object], *, prefix: str | None = None) -> Path:
        """Write the next file with ``write`` (named ``prefix``, default the dropper's)."""
        # One sequence and one clock for every prefix, so names record the write order of all.
        moment = self._clock().astimezone(UTC)
        if self._last_moment is not None and moment <= self._last_moment:
            # The wall clock can step back (NTP) or repeat; names must still sort in write order.
            moment = self._last_moment + timedelta(microseconds=1)
        self._seq += 1
        path = drop_atomic(
            self.directory, drop_file_name(moment, self._seq, prefix or self._prefix), write
        )
        self._last_moment = moment
        return path
