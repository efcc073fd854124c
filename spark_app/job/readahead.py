"""Read-ahead: the next batch's first wave, read while this batch is written.

Spark plans micro-batch N+1 only once N's handler has returned. A batch of one wave is read,
then written: in a backlog of such batches the executors idle while the database writes, and
the database idles while Spark plans N+1 and reads it. Once N's rows are all read, the handler
guesses N+1's files as the file source admits them (the files after N's in the source's order,
within the same limit) and has them planned and their first wave read in a thread of its own.
N+1's handler uses that wave only if its files are exactly the ones guessed (path,
modification time, size): dropped files are immutable, so the same pieces give the same rows.
A wrong guess costs one wave's reading, nothing else. Nothing is written ahead: the
exactly-once protocol is unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from spark_app.common.paths import local_path
from spark_app.parse import pieces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """What the file source puts in a batch: its folder, and its limit (a number of files,
    else every file that has arrived up to a number of bytes, at least one file)."""

    input_dir: str
    max_files: int | None
    max_bytes: int


@dataclass(frozen=True)
class Ahead:
    """A batch read ahead: its files' pieces, and its first wave (groups, validated rows)."""

    files: tuple[pieces.SourceFile, ...]
    planned: list[pieces.Piece]
    wave: list[list[pieces.Piece]]
    rows: pa.Table


def listing(input_dir: str) -> list[pieces.SourceFile]:
    """The folder's files as the source lists them (`*.csv`, no hidden or `_` names, in the
    directory's order), named and timed as its log records them (`file:/…`, milliseconds);
    empty unless it is local."""
    folder = local_path(input_dir)
    if folder is None:
        return []
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith((".", "_")) or not entry.name.endswith(".csv"):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    status = entry.stat()
                except OSError:
                    continue  # renamed or archived meanwhile
                modified = datetime.fromtimestamp(status.st_mtime_ns // 1_000_000 / 1000, UTC)
                path = "file:" + os.path.abspath(entry.path)
                found.append(pieces.SourceFile(path, modified, status.st_size))
    except OSError:
        return []
    return found


def next_files(
    listed: list[pieces.SourceFile], taken: list[pieces.SourceFile], admission: Admission
) -> list[pieces.SourceFile]:
    """The files the source will most likely put in the batch after `taken`, within the
    admission's limit. `listed` is in the folder's listing order: the source sorts the files it
    lists by modification time alone, a stable sort, so that files of the same millisecond (a
    backlog copied in at once) come in listing order, not by name; its next batch is the files
    after the last of `taken` in that order."""
    if not taken:
        return []
    names = {entry.path for entry in taken}
    in_source_order = sorted(listed, key=lambda entry: entry.modified)
    positions = [index for index, entry in enumerate(in_source_order) if entry.path in names]
    if positions:
        after = in_source_order[max(positions) + 1 :]
    else:  # the batch's files are gone from the folder (archived): after them in time
        last = max(entry.modified for entry in taken)
        after = [entry for entry in in_source_order if entry.modified > last]
    after = [entry for entry in after if entry.path not in names]
    if admission.max_files is not None:
        return after[: admission.max_files]
    chosen: list[pieces.SourceFile] = []
    total = 0
    for entry in after:
        if chosen and total + entry.length > admission.max_bytes:
            break
        chosen.append(entry)
        total += entry.length
    return chosen


class ReadAhead:
    """At most one batch read ahead, in a thread of its own."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="ingest-read-ahead")
        self._pending: Future[Ahead | None] | None = None

    def start(self, read: Callable[[], Ahead | None]) -> None:
        """Read a batch ahead (`read` guesses, plans and reads it); an earlier one is
        dropped first."""
        self._drop()
        self._pending = self._reader.submit(read)

    def take(self, files: list[pieces.SourceFile]) -> Ahead | None:
        """The batch read ahead if its files are exactly these, else None. Waits for a read
        under way either way: two batches are never read at once."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        try:
            ahead = pending.result()
        except Exception as exc:
            log.info("reading ahead failed, the batch is read as usual: %s", exc)
            return None
        if ahead is None or ahead.files != tuple(pieces.in_arrival_order(files)):
            return None
        return ahead

    def _drop(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except Exception:
                pass  # a guess only: its batch is read as usual

    def close(self) -> None:
        """Wait for a read under way (a stopped query's jobs are cancelled) and end the
        thread."""
        self._drop()
        self._reader.shutdown(wait=True)
