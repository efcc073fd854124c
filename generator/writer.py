"""Dropping files the stream picks up: atomically (spark_app.common.files), named in write order."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from spark_app.common.files import write_atomically


def drop_file_name(moment: datetime, seq: int, prefix: str = "events") -> str:
    """Return ``<prefix>_<UTC yyyymmdd_HHMMSS_ffffff>_<seq:06d>.csv``."""
    return f"{prefix}_{moment.astimezone(UTC):%Y%m%d_%H%M%S_%f}_{seq:06d}.csv"


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
        # The stream skips the hidden temporary name, so it never sees a partial file.
        name = drop_file_name(moment, self._seq, prefix or self._prefix)
        path = write_atomically(self.directory / name, write)
        self._last_moment = moment
        return path
