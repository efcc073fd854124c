"""Archive retention."""

from __future__ import annotations

import os
from pathlib import Path

from spark_app.telemetry.retention import prune_archive


def test_files_past_retention_are_removed_and_recent_ones_kept(tmp_path: Path) -> None:
    old = tmp_path / "in" / "old.csv"
    recent = tmp_path / "in" / "recent.csv"
    old.parent.mkdir()
    for path in (old, recent):
        path.write_text("x")
    now = 1_000_000.0
    os.utime(old, (now - 7200, now - 7200))
    os.utime(recent, (now - 60, now - 60))
    assert prune_archive(tmp_path, retention_seconds=3600, now=now) == 1
    assert not old.exists() and recent.exists()
