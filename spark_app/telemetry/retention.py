"""Retention of archived input files: processed files older than the period are deleted."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


def prune_archive(archive_dir: Path, retention_seconds: float, now: float | None = None) -> int:
    """Delete archived files last modified before now - retention; returns how many."""
    cutoff = (time.time() if now is None else now) - retention_seconds
    removed = 0
    for folder, _, names in os.walk(archive_dir):
        for name in names:
            path = Path(folder, name)
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


class ArchivePruner(threading.Thread):
    """Prunes a local archive folder now and then, for as long as the stream runs."""

    def __init__(self, archive_dir: str, retention_hours: float, every_seconds: float = 600):
        super().__init__(name="archive-pruner", daemon=True)
        self.archive_dir = Path(archive_dir)
        self.retention_seconds = retention_hours * 3600
        self.every_seconds = every_seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            if self.archive_dir.is_dir():
                removed = prune_archive(self.archive_dir, self.retention_seconds)
                if removed:
                    log.info("archive: removed %d file(s) past retention", removed)
            self.stopped.wait(self.every_seconds)

    def stop(self) -> None:
        self.stopped.set()
