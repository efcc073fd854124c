"""The files of a micro-batch, from the checkpoint's offset log and the file source's log."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from spark_app.sink.sourcelog import batch_files

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def _offsets(root: Path, batch_id: int, log_offset: int) -> None:
    folder = root / "offsets"
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"batchWatermarkMs": 0, "batchTimestampMs": T0, "conf": {}}
    text = f"v1\n{json.dumps(meta)}\n{json.dumps({'logOffset': log_offset})}"
    (folder / str(batch_id)).write_text(text)


def _source_log(root: Path, name: str, entries: list[tuple[str, int]]) -> None:
    folder = root / "sources" / "0"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"path": f"file:///drop/{path}", "timestamp": T0 + n, "batchId": n})
        for path, n in entries
    ]
    (folder / name).write_text("\n".join(["v1", *lines]))


def _names(root: Path, batch_id: int) -> list[str]:
    return [entry.path for entry in batch_files(str(root), batch_id)]


def test_a_replanned_batch_shifts_the_source_log_numbering(tmp_path: Path) -> None:
    # Source batch 2 was logged, then the driver died before offsets/2: the restart planned
    # micro-batch 2 over source batches 2 and 3, so micro-batch 3 is source batch 4.
    for number, name in enumerate(["a.csv", "b.csv", "c.csv", "d.csv", "e.csv"]):
        _source_log(tmp_path, str(number), [(name, number)])
    for batch_id, log_offset in [(0, 0), (1, 1), (2, 3), (3, 4)]:
        _offsets(tmp_path, batch_id, log_offset)
    assert _names(tmp_path, 0) == ["file:/drop/a.csv"]
    assert _names(tmp_path, 2) == ["file:/drop/c.csv", "file:/drop/d.csv"]
    assert _names(tmp_path, 3) == ["file:/drop/e.csv"]
    [entry] = batch_files(str(tmp_path), 3)
    assert entry.modified == datetime(2026, 1, 1, 0, 0, 0, 4000)


def test_entries_compacted_away_are_read_from_the_compact_file(tmp_path: Path) -> None:
    entries = [(f"f{n}.csv", n) for n in range(11)]
    _source_log(tmp_path, "9.compact", entries[:10])
    _source_log(tmp_path, "10", entries[10:])
    _offsets(tmp_path, 7, 8)
    _offsets(tmp_path, 8, 9)
    _offsets(tmp_path, 9, 10)
    assert _names(tmp_path, 8) == ["file:/drop/f9.csv"]
    assert _names(tmp_path, 9) == ["file:/drop/f10.csv"]


def test_an_unknown_batch_or_a_remote_checkpoint_gives_no_list(tmp_path: Path) -> None:
    _offsets(tmp_path, 1, 1)  # offsets/0 is gone: the start is unknown
    assert batch_files(str(tmp_path), 1) == []
    assert batch_files(str(tmp_path), 5) == []
    assert batch_files("s3a://bucket/checkpoint", 0) == []


def test_paths_are_named_as_the_scan_names_them(tmp_path: Path) -> None:
    """The log holds URIs (a space is %20, a % is %25); the batch names the file itself."""
    _source_log(tmp_path, "0", [("a%20b.csv", 0), ("c%2520d.csv", 0), ("%C3%A9.csv", 0)])
    _offsets(tmp_path, 0, 0)
    assert _names(tmp_path, 0) == ["file:/drop/a b.csv", "file:/drop/c%20d.csv", "file:/drop/é.csv"]


def test_a_compact_file_is_parsed_only_for_the_batch_wanted(tmp_path: Path) -> None:
    """Spark writes compact JSON; a file name may even read like the key: it is escaped."""
    folder = tmp_path / "sources" / "0"
    folder.mkdir(parents=True)
    names = ['a"batchId":2.csv', 'b"batchId":1.csv', "c.csv"]
    lines = [
        json.dumps({"path": f"file:///drop/{name}", "timestamp": T0, "batchId": n},
                   separators=(",", ":"))
        for n, name in enumerate(names)
    ]  # fmt: skip
    (folder / "2.compact").write_text("\n".join(["v1", *lines, ""]))
    for batch_id in range(3):
        _offsets(tmp_path, batch_id, batch_id)
    assert [_names(tmp_path, batch_id) for batch_id in range(3)] == [
        ['file:/drop/a"batchId":2.csv'],
        ['file:/drop/b"batchId":1.csv'],
        ["file:/drop/c.csv"],
    ]
