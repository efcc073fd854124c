"""The foreachBatch handler: a micro-batch's files, read in pieces, committed chunk by chunk.

The file source gives the batch's files (path, time, size; never their content). The files
are cut into pieces (parse/pieces.py), the pieces are split and validated on the executors,
and the validated rows come back to the driver as Arrow, a few Spark partitions at a time
(the next few are computed while the driver writes these), in arrival order. The driver
writes them in the batch's one transaction as they come: no process holds a whole file or
batch, and memory is bounded by the piece size.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.util import inheritable_thread_target

from spark_app.common.failpoints import failpoint
from spark_app.common.paths import local_path
from spark_app.job.idorder import in_id_order, segment_count
from spark_app.job.readahead import Ahead, ReadAhead, listing, next_files
from spark_app.parse import pieces
from spark_app.parse.schemas import LISTING
from spark_app.parse.validate import (
    WAVE_PROPERTY,
    probe_ranges,
    split_here,
    split_streamed,
    split_wave,
    validate,
    wave_property,
)
from spark_app.sink.batch import BatchKey, FileEntry
from spark_app.sink.committer import Committer
from spark_app.sink.sourcelog import batch_files

log = logging.getLogger(__name__)

QUERY_ID_PROPERTY = "sql.streaming.queryId"
# The local properties that make a job part of a running SQL execution (a micro-batch's).
SQL_EXECUTION_PROPERTIES = ("spark.sql.execution.id", "spark.sql.execution.root.id")
# Rows per chunk written: large enough to amortise a statement, small enough to keep the
# driver's memory flat.
CHUNK_ROWS = 50_000
# Piece groups (Spark partitions) per collected wave of a large batch.
WAVE_GROUPS = 4
# A large file's first ranges are this share of a piece, the next ones twice that, and so on
# up to a piece (one range a partition, a wave a partition per reading core): its first rows
# reach the database after a small read rather than after a wave of whole pieces.
FIRST_RANGE_SHARE = 8
# A batch of at most this much input is split on the driver (validate.split_here): reading a
# few small files costs less than a Spark task's round trip to a Python worker.
SPLIT_HERE_BYTES = 1 << 20
# A batch of more than this many pieces of input (64 MB by default) writes its events in
# event_id order where the table is stored in that order (job/idorder.py); a catch-up batch of
# small files is written as it is read.
ID_ORDER_PIECES = 8


def _stat(entry: FileEntry) -> pieces.SourceFile:
    local = local_path(entry.path)
    length = local.stat().st_size if local is not None and local.exists() else 0
    if local is not None and not local.exists():
        log.warning("%s is gone: recorded with no records", entry.path)
    return pieces.SourceFile(entry.path, entry.modified.replace(tzinfo=UTC), length)


def files_of_batch(
    batch_df: DataFrame, checkpoint_dir: str, batch_id: int
) -> list[pieces.SourceFile]:
    """The batch's files. From a local checkpoint's source log (0-byte files included, no
    Spark job); else from the batch itself (its listing, without content)."""
    listed = batch_files(checkpoint_dir, batch_id)
    if listed:
        return [_stat(entry) for entry in listed]
    # One small row per file, never a file's content.
    rows = batch_df.select(*LISTING).collect()
    return [
        pieces.SourceFile(row["path"], _aware(row["modificationTime"]), int(row["length"]))
        for row in rows
    ]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def plan(
    spark: SparkSession, files: list[pieces.SourceFile], piece_bytes: int
) -> list[pieces.Piece]:
    """The pieces of the batch's files; large files are probed first, in parallel."""
    probes: list[pieces.Probe] = []
    if any(entry.length > piece_bytes for entry in files):
        first = max(1, piece_bytes // FIRST_RANGE_SHARE)
        width = _wave_width(spark)
        ranges = pieces.ranges_to_probe(files, piece_bytes, first=first, width=width)
        probes = probe_ranges(spark, ranges, width)
    return pieces.pieces_of(files, probes, piece_bytes)


def _wave_width(spark: SparkSession) -> int:
    """Groups (partitions) per wave: one per executor core, at most WAVE_GROUPS. On a local
    master the driver's write (and most often the database) shares the machine's cores with
    the executors and needs about as much CPU as the read: a wave reads with half of them,
    and the write of the wave before has the other half."""
    cores = spark.sparkContext.defaultParallelism
    if (spark.sparkContext.master or "").startswith("local"):
        cores //= 2
    return max(1, min(cores, WAVE_GROUPS))


def _slices(table: pa.Table) -> Iterator[pa.Table]:
    return (table.slice(start, CHUNK_ROWS) for start in range(0, table.num_rows, CHUNK_ROWS))


# The validated frame of a wave of N groups, per streaming query's session: built once, run
# for every wave of N groups (the groups named by a local property), so Spark analyses and plans
# it once rather than per wave.
_WAVE_FRAMES: dict[tuple[str, int], DataFrame] = {}


def _wave_frame(spark: SparkSession, count: int) -> DataFrame:
    session = str(spark._jsparkSession.sessionUUID())
    frame = _WAVE_FRAMES.get((session, count))
    if frame is None:
        if any(key[0] != session for key in _WAVE_FRAMES):
            _WAVE_FRAMES.clear()  # an earlier query's session: its frames are done with
        frame = split_wave(spark, count).transform(validate)
        _WAVE_FRAMES[(session, count)] = frame
    return frame


def _validated(spark: SparkSession, groups: list[list[pieces.Piece]]) -> pa.Table:
    """One Spark job: each group one partition, validated, collected as Arrow in order."""
    frame = _wave_frame(spark, len(groups))
    context = spark.sparkContext
    context.setLocalProperty(WAVE_PROPERTY, wave_property(groups))
    try:
        return frame.toArrow()
    finally:
        context.setLocalProperty(WAVE_PROPERTY, None)  # type: ignore[arg-type]


def validated_chunks(
    spark: SparkSession,
    planned: list[pieces.Piece],
    piece_bytes: int,
    ahead: Ahead | None = None,
) -> Iterator[pa.Table]:
    """The batch's validated rows, chunk by chunk, in arrival order; `ahead` is the batch's
    first wave when it was read ahead."""
    if not planned:
        return
    if _split_here(planned):
        # A live batch of small files: split on the driver, validated by Spark SQL.
        yield from _slices(split_here(spark, planned).transform(validate).toArrow())
        return
    width = _wave_width(spark)
    groups = pieces.in_groups(planned, piece_bytes, width)
    # Held in a list that the first wave empties: no frame keeps those rows once written.
    ready = [ahead] if ahead is not None else []
    del ahead
    # Runs of groups in arrival order: a large file that must be read whole streams through
    # the driver chunk by chunk; the others go to the executors in waves.
    for streamed, run in itertools.groupby(groups, lambda group: _streamed(group, piece_bytes)):
        if streamed:
            for (piece,) in run:
                for records in split_streamed(spark, piece, CHUNK_ROWS):
                    yield records.transform(validate).toArrow()
        else:
            yield from _in_waves(spark, list(run), width, ready)


def _split_here(planned: list[pieces.Piece]) -> bool:
    return _input_bytes(planned) <= SPLIT_HERE_BYTES


def _in_id_order(planned: list[pieces.Piece], piece_bytes: int) -> bool:
    return _input_bytes(planned) > ID_ORDER_PIECES * piece_bytes


def _segments(planned: list[pieces.Piece]) -> list[list[pieces.Piece]]:
    """The pieces in runs of about even input, in arrival order (job/idorder.py)."""
    return pieces.spread(planned, segment_count(_input_bytes(planned)))


def _input_bytes(planned: list[pieces.Piece]) -> int:
    return sum(piece.end - piece.start for piece in planned)


def _one_wave(spark: SparkSession, planned: list[pieces.Piece], piece_bytes: int) -> bool:
    """Whether the executors read the batch in one wave, so that its write would follow its
    read with the executors idle. A batch of several waves reads the next wave while it
    writes; on two cores, reading ahead there only slowed the batches down."""
    if _split_here(planned):
        return False
    width = _wave_width(spark)
    groups = pieces.in_groups(planned, piece_bytes, width)
    return _first_wave(groups, piece_bytes, width) == groups


def _first_wave(
    groups: list[list[pieces.Piece]], piece_bytes: int, width: int
) -> list[list[pieces.Piece]]:
    """The first wave validated_chunks collects, when the batch starts with one."""
    run = itertools.takewhile(lambda group: not _streamed(group, piece_bytes), groups)
    return list(itertools.islice(run, width))


def read_ahead(
    spark: SparkSession, taken: list[pieces.SourceFile], ahead: ReadAhead, piece_bytes: int
) -> Ahead | None:
    """Guess the batch after `taken`, plan it and read its first wave; None when it is empty
    or would not be read in waves (a live batch, a file streamed whole)."""
    # Its jobs keep the query's job group (a stop cancels them), but are not part of the
    # finished batch's SQL execution: they read the next batch, under a name that says so.
    context = spark.sparkContext
    for key in SQL_EXECUTION_PROPERTIES:
        context.setLocalProperty(key, None)  # type: ignore[arg-type]
    context.setJobDescription("read ahead: the next batch's first wave")
    files = next_files(listing(ahead.admission.input_dir), taken, ahead.admission)
    if not files:
        return None
    planned = plan(spark, files, piece_bytes)
    if not planned or _split_here(planned):
        return None
    width = _wave_width(spark)
    wave = _first_wave(pieces.in_groups(planned, piece_bytes, width), piece_bytes, width)
    if not wave:
        return None
    return Ahead(tuple(pieces.in_arrival_order(files)), planned, wave, _validated(spark, wave))


def _streamed(group: list[pieces.Piece], piece_bytes: int) -> bool:
    """A group of one piece larger than a piece, read whole: its records come in one
    sequence, so one task would hand the driver all of them at once."""
    return len(group) == 1 and group[0].whole and group[0].end - group[0].start > piece_bytes


def _in_waves(
    spark: SparkSession, groups: list[list[pieces.Piece]], width: int, ready: list[Ahead]
) -> Iterator[pa.Table]:
    """Groups in waves of `width`, one Spark job each, collected as Arrow (no row pickling);
    the next wave is computed while the driver writes this one. The driver holds at most two
    waves: memory is bounded by the piece size, not the input. The first wave is taken from
    `ready` (emptied) when it was read ahead."""
    waves = [groups[start : start + width] for start in range(0, len(groups), width)]
    # The reading thread's jobs carry the streaming query's properties (its job group, so
    # stopping the query cancels them too).
    collect = inheritable_thread_target(spark)(_validated)
    with ThreadPoolExecutor(1, thread_name_prefix="ingest-read") as reader:
        pending: Future[pa.Table]
        ahead = ready.pop() if ready else None
        if ahead is not None and ahead.wave == waves[0]:
            pending = Future()
            pending.set_result(ahead.rows)
        else:
            pending = reader.submit(collect, spark, waves[0])
        del ahead
        for following in [*waves[1:], None]:
            table = pending.result()
            if following is not None:
                pending = reader.submit(collect, spark, following)
            yield from _slices(table)
            del table


def write_batch(
    batch_df: DataFrame,
    batch_id: int,
    *,
    committer: Committer,
    checkpoint_dir: str,
    piece_bytes: int,
    ahead: ReadAhead | None = None,
) -> None:
    """foreachBatch handler: one micro-batch, exactly once. With `ahead`, a batch read in one
    wave has the next batch's first wave read while it is written."""
    started = time.monotonic()
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
    if not query_id:
        raise RuntimeError("write_batch must run inside a streaming query's foreachBatch")
    key = BatchKey(query_id=query_id, batch_id=batch_id)
    if committer.is_committed(key):
        return
    files = files_of_batch(batch_df, checkpoint_dir, batch_id)
    found = ahead.take(files) if ahead is not None else None
    if found is not None:
        log.info("batch %d: its first wave was read ahead", batch_id)
    planned = found.planned if found is not None else plan(spark, files, piece_bytes)
    failpoint("batch-planned")
    entries = [
        FileEntry(entry.path, entry.modified.astimezone(UTC).replace(tzinfo=None), 0)
        for entry in files
    ]
    # The wave read ahead serves the first attempt (a retry reads it again); no frame keeps
    # it once written.
    first_wave = [found] if found is not None else []
    del found

    def chunks() -> Iterator[pa.Table]:
        ready = first_wave.pop() if first_wave else None
        if committer.dialect.clustered_by_id and _in_id_order(planned, piece_bytes):
            segments = [
                validated_chunks(spark, part, piece_bytes, ready if index == 0 else None)
                for index, part in enumerate(_segments(planned))
            ]
            log.info("batch %d: events written in event_id order, %d segments of input",
                     batch_id, len(segments))  # fmt: skip
            yield from in_id_order(segments, CHUNK_ROWS, inheritable_thread_target(spark))
        else:
            yield from validated_chunks(spark, planned, piece_bytes, ready)
        if ahead is not None and _one_wave(spark, planned, piece_bytes):
            # Every row of this batch is read: the executors read the next batch's first
            # wave while the database writes this one.
            guess = functools.partial(read_ahead, spark, files, ahead, piece_bytes)
            ahead.start(inheritable_thread_target(spark)(guess))

    committer.commit(key, chunks, entries, started)
    failpoint("batch-committed")


def dry_run_batch(
    batch_df: DataFrame, batch_id: int, *, checkpoint_dir: str, piece_bytes: int, rounds: int = 1
) -> None:
    """foreachBatch of the warm-up query: a batch's files read, split and validated the way
    write_batch does it, `rounds` times, nothing written."""
    spark = batch_df.sparkSession
    planned = plan(spark, files_of_batch(batch_df, checkpoint_dir, batch_id), piece_bytes)
    for _ in range(rounds):
        for _ in validated_chunks(spark, planned, piece_bytes):
            pass


def warm_up_executors(spark: SparkSession, path: Path) -> int:
    """Read, split and validate a small local file once on the executors, so that the first
    large batch does not pay for the first run of their read path (a Python worker, code
    generation); returns its rows. One partition: a second Python worker would sit idle
    beside a stream of small files. Local masters only (else 0): an executor elsewhere cannot
    see the driver's file."""
    if not (spark.sparkContext.master or "local").startswith("local"):
        return 0
    size = path.stat().st_size
    piece = pieces.Piece(f"file:{path}", datetime.now(UTC), 0, size, 1, None, True)
    return int(_validated(spark, [[piece]]).num_rows)


def recover_staged(committer: Committer, folder: Path | None) -> int:
    """Commit the batches an earlier release staged next to the checkpoint (recorded ones are
    skipped), then remove their files; returns how many there were."""
    from spark_app.sink.staging import Staging

    if folder is None:
        return 0
    staging = Staging(folder)
    paths = staging.pending()
    for path in paths:
        staged = staging.load(path)
        log.info("batch %d: staged before a stop, committing it first", staged.key.batch_id)
        chunks = [staged.table]
        committer.commit(staged.key, chunks.copy, staged.listed, time.monotonic())
        staging.remove(path)
    return len(paths)
