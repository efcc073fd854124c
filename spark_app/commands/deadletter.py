"""The dead-letter folder: what the stream could not take, kept outside the database.

Each entry is a folder named after its batch's key, `<query_id>-<batch_id>/`, with a
`manifest.json` (format, kind, key, time, reason, and every file with its size, modification
time and SHA-256):

- a pending batch set aside (`ingest-batches export N`): copies of its input files, byte for
  byte; the originals are never moved or deleted;
- a batch's refused rows (`export QUERY_ID:BATCH_ID`): `quarantine.csv`, the rows as the
  database stores them, and one file per kind of row with the contract's header, which
  `retry` drops into the input folder; `retried.json` then names the files it dropped.

An entry is built under a hidden name and renamed when complete, so a folder with a manifest
is whole; a hidden folder left behind is an interrupted attempt, replaced by the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from spark_app.commands.refused import RefusedRow, csv_line, fields_of, header_line
from spark_app.common.files import write_atomically
from spark_app.sink.batch import BatchKey

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
RETRIED = "retried.json"
QUARANTINE = "quarantine.csv"
PENDING_BATCH = "pending_batch"
REFUSED_ROWS = "refused_rows"
QUARANTINE_COLUMNS = ("id", "source_file", "source_line", "detail", "raw_line", "rejected_at")
_BLOCK = 1 << 20


def iso(moment: datetime) -> str:
    """An aware or naive-UTC time as ISO-8601 with a Z, to the microsecond."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def entry_folder(root: Path, key: BatchKey) -> Path:
    """Where the batch's entry lives."""
    return root / f"{key.query_id}-{key.batch_id}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """An entry's manifest, None when there is no complete entry."""
    return _read_json(folder / MANIFEST)


def read_retried(folder: Path) -> dict[str, Any] | None:
    """What `retry` dropped for this entry, None when it has not been retried."""
    return _read_json(folder / RETRIED)


def fsync_folder(folder: Path) -> None:
    """Make the renames in a folder durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON file atomically: a hidden temporary name, fsync, rename."""
    write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def describe(path: Path, **extra: Any) -> dict[str, Any]:
    """A written file as the manifest lists it: name, size, modification time, SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    stat = path.stat()
    return {
        "name": path.name,
        **extra,
        "size": stat.st_size,
        "modified": iso(datetime.fromtimestamp(stat.st_mtime, UTC)),
        "sha256": digest.hexdigest(),
    }


def copy_file(source: Path, target: Path) -> None:
    """Copy bytes and modification time, then fsync; the source is left as it was."""
    with source.open("rb") as reading, target.open("xb") as writing:
        shutil.copyfileobj(reading, writing, _BLOCK)
        writing.flush()
        os.fsync(writing.fileno())
    shutil.copystat(source, target)


def copy_names(paths: list[Path]) -> list[str]:
    """A name per file in one folder: its own, numbered when two files share one."""
    names: list[str] = []
    for path in paths:
        name, number = path.name, 1
        while name in names:
            number += 1
            name = f"{path.stem}.{number}{path.suffix}"
        names.append(name)
    return names


@contextmanager
def building(root: Path, key: BatchKey) -> Iterator[Path]:
    """A hidden folder to fill; renamed to the entry's name when the block ends without an
    error, removed when it fails."""
    final = entry_folder(root, key)
    partial = root / f".{final.name}.partial"
    root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted attempt of this command
    partial.mkdir()
    try:
        yield partial
        fsync_folder(partial)
        os.rename(partial, final)
        fsync_folder(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _manifest(kind: str, key: BatchKey, reason: str, now: datetime) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "kind": kind,
        "query_id": key.query_id,
        "batch_id": key.batch_id,
        "exported_at": iso(now),
        "reason": reason,
    }


def export_files(
    root: Path,
    key: BatchKey,
    files: list[tuple[str, Path]],
    missing: list[str],
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Copy a pending batch's files, (path as the checkpoint names it, local path), into its
    entry; returns the manifest."""
    manifest = _manifest(PENDING_BATCH, key, reason, now)
    with building(root, key) as folder:
        listed = []
        names = copy_names([local for _, local in files])
        for (path, local), name in zip(files, names, strict=True):
            copy_file(local, folder / name)
            listed.append({"path": path, **describe(folder / name)})
        manifest.update(files=listed, missing=missing)
        write_json(folder / MANIFEST, manifest)
    return manifest


class _KindFiles:
    """One CSV per kind of row, opened with its header when its first row comes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.handles: dict[str, TextIO] = {}
        self.rows: dict[str, int] = {}

    def write(self, kind: str, fields: list[str]) -> None:
        handle = self.handles.get(kind)
        if handle is None:
            handle = (self.folder / f"{kind}.csv").open("x", encoding="utf-8", newline="")
            handle.write(header_line(kind))
            self.handles[kind] = handle
        handle.write(csv_line(fields))
        self.rows[kind] = self.rows.get(kind, 0) + 1

    def close(self) -> None:
        for handle in self.handles.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()


def export_refused(
    root: Path, key: BatchKey, rows: Iterable[RefusedRow], reason: str, now: datetime
) -> dict[str, Any]:
    """Write a batch's refused rows into its entry: the quarantine as stored, and a file per
    kind for the rows that split back into fields; returns the manifest."""
    manifest = _manifest(REFUSED_ROWS, key, reason, now)
    with building(root, key) as folder:
        total = unsplit = 0
        kinds = _KindFiles(folder)
        try:
            with (folder / QUARANTINE).open("x", encoding="utf-8", newline="") as quarantine:
                quarantine.write(csv_line(QUARANTINE_COLUMNS))
                for row in rows:
                    total += 1
                    quarantine.write(
                        csv_line(
                            [str(row.id), row.source_file, str(row.source_line), row.detail,
                             row.raw_line, iso(row.rejected_at)]
                        )
                    )  # fmt: skip
                    split = fields_of(row)
                    if split is None:
                        unsplit += 1
                    else:
                        kinds.write(*split)
                quarantine.flush()
                os.fsync(quarantine.fileno())
        finally:
            kinds.close()
        listed = [describe(folder / QUARANTINE, rows=total)]
        listed += [
            describe(folder / f"{kind}.csv", kind=kind, rows=count)
            for kind, count in kinds.rows.items()
        ]
        manifest.update(rows=total, unsplit=unsplit, files=listed)
        write_json(folder / MANIFEST, manifest)
    return manifest


def retry_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The files of a refused-rows entry that go back to the stream: users and products
    first (an event's user or product then exists when the event arrives), events last."""
    order = {"products": 0, "users": 1, "events": 2}
    found = [entry for entry in manifest.get("files", []) if entry.get("kind") in order]
    return sorted(found, key=lambda entry: order[entry["kind"]])
