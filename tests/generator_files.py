"""Reading what the generator dropped, in both tiers (its command line's unit tests and the real
process in tests/integration/test_generator_process.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from generator.records import COLUMNS


def csv_files(directory: Path) -> list[Path]:
    """The events files in `directory`, oldest name first."""
    return sorted(directory.glob("events_*.csv"))


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of one events file, after checking its header."""
    text = path.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)
