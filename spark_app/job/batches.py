"""The foreachBatch handler: a micro-batch's files, read in pieces, committed chunk by chunk.

The file source gives the batch's files (path, time, size; never their content). The files
are cut into pieces (parse/pieces.py), the pieces are split and validated on the executors,
and the validated rows come back to the driver one Spark partition at a time
(`toLocalIterator`, which computes the next partition while the driver writes this one), as
Arrow chunks, in arrival order. The driver writes them in the batch's one transaction as they
come: no process holds a whole file or batch, and memory is bounded by the piece size.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BinaryType, StructField, StructType

from spark_app.common.failpoints import failpoint
from spark_app.common.paths import local_path
from spark_app.parse import pieces
from spark_app.parse.schemas import LISTING, PIECES
from spark_app.parse.validate import parse_pieces
from spark_app.sink.batch import BatchKey, FileEntry
from spark_app.sink.committer import Committer
from spark_app.sink.sourcelog import batch_files

log = logging.getLogger(__name__)

QUERY_ID_PROPERTY = "sql.streaming.queryId"
# Rows per chunk that reaches the driver: large enough to amortise a statement, small enough
# to keep the driver's memory flat.
CHUNK_ROWS = 50_000
_CHUNKS = StructType([StructField("ipc", BinaryType(), False)])


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
    ranges = pieces.ranges_to_probe(files, piece_bytes)
    probes: list[pieces.Probe] = []
    if ranges:
        probes = (
            spark.sparkContext.parallelize(ranges, len(ranges))
            .map(lambda found: pieces.probe(found[0], found[1], found[2], piece_bytes))
            .collect()
        )
    return pieces.pieces_of(files, probes, piece_bytes)


def _as_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: validated rows -> Arrow IPC streams of about CHUNK_ROWS rows each."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= CHUNK_ROWS:
            yield _blob(pending)
            pending, rows = [], 0
    if pending:
        yield _blob(pending)


# LZ4 frames: a chunk crosses Spark (task result, driver JVM, socket) at about a quarter of
# its size, for a few milliseconds of CPU.
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


def _blob(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, batches[0].schema, options=_IPC_OPTIONS) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return pa.record_batch([pa.array([sink.getvalue().to_pybytes()], pa.binary())], ["ipc"])


def validated_chunks(
    spark: SparkSession, planned: list[pieces.Piece], piece_bytes: int
) -> Iterator[pa.Table]:
    """The batch's validated rows, chunk by chunk, in arrival order."""
    groups = pieces.in_groups(planned, piece_bytes)
    if not groups:
        return
    if len(groups) == 1:
        # At most a piece's worth of input (a live batch): one Spark job over a local
        # relation, its tasks in parallel, the result in partition (arrival) order.
        rows = [astuple(piece) for piece in groups[0]]
        table = spark.createDataFrame(rows, PIECES).transform(parse_pieces).toArrow()
        yield from (
            table.slice(start, CHUNK_ROWS) for start in range(0, table.num_rows, CHUNK_ROWS)
        )
        return
    partitions = spark.sparkContext.parallelize(
        [[astuple(piece) for piece in group] for group in groups], len(groups)
    ).flatMap(lambda group: group)
    chunks = (
        spark.createDataFrame(partitions, PIECES)
        .transform(parse_pieces)
        .mapInArrow(_as_chunks, _CHUNKS)
    )
    for row in chunks.toLocalIterator(prefetchPartitions=True):
        with ipc.open_stream(row["ipc"]) as reader:
            yield reader.read_all()


def write_batch(
    batch_df: DataFrame,
    batch_id: int,
    *,
    committer: Committer,
    checkpoint_dir: str,
    piece_bytes: int,
) -> None:
    """foreachBatch handler: one micro-batch, exactly once."""
    started = time.monotonic()
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
    if not query_id:
        raise RuntimeError("write_batch must run inside a streaming query's foreachBatch")
    key = BatchKey(query_id=query_id, batch_id=batch_id)
    if committer.is_committed(key):
        return
    files = files_of_batch(batch_df, checkpoint_dir, batch_id)
    planned = plan(spark, files, piece_bytes)
    failpoint("batch-planned")
    entries = [
        FileEntry(entry.path, entry.modified.astimezone(UTC).replace(tzinfo=None), 0)
        for entry in files
    ]
    committer.commit(key, lambda: validated_chunks(spark, planned, piece_bytes), entries, started)
    failpoint("batch-committed")


WARM_UP_FILE = (
    "event_id,user_id,product_id,event_type,price,event_time\n"
    "warm-up,u,p,view,1.00,2026-01-01T00:00:00Z\n"
    "warm-up,,p,view,x,2026-01-01T00:00:00+01:00\n"
)


def warm_up(spark: SparkSession, piece_bytes: int) -> None:
    """Run the read, split and validation of a tiny file once, before the first file arrives,
    so that the first batch does not pay for the Python workers, the JIT and code generation.
    Local masters only: an executor elsewhere cannot see the driver's temporary file."""
    if not (spark.sparkContext.master or "local").startswith("local"):
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ingest-warm-") as folder:
        path = Path(folder) / "warm-up.csv"
        path.write_text(WARM_UP_FILE, encoding="utf-8")
        piece = pieces.Piece(
            f"file:{path}", datetime.now(UTC), 0, path.stat().st_size, 1, None, True
        )
        rows = sum(chunk.num_rows for chunk in validated_chunks(spark, [piece], piece_bytes))
    log.info("warmed up in %d ms (%d rows)", (time.monotonic() - started) * 1000, rows)


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
