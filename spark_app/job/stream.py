"""Wiring of the streaming query: the file source in, the batch writer out."""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from spark_app.job.batches import dry_run_batch, warm_up_executors, write_batch
from spark_app.job.config import StreamSettings
from spark_app.job.readahead import Admission, ReadAhead
from spark_app.parse.schemas import LISTING, SOURCE_FILES
from spark_app.sink.committer import Committer

log = logging.getLogger(__name__)

QUERY_NAME = "ingest"
WARM_UP_TIMEOUT_S = 120
# The warm-up file is read this many times: the JVM compiles a path after it has run a few
# times, and a first live batch read after one round still took about twice its usual time.
WARM_UP_ROUNDS = 4
# A valid row and a quarantined one: both branches of the validation run.
WARM_UP_FILE = (
    "event_id,user_id,product_id,event_type,price,event_time\n"
    "warm-up,u,p,view,1.00,2026-01-01T00:00:00Z\n"
    "warm-up,,p,view,x,2026-01-01T00:00:00+01:00\n"
)


def read_files(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The drop folder as a stream of file listings (path, time, size; the content is read in
    pieces by the handler); temp names (., _, non-.csv) are ignored."""
    reader = (
        spark.readStream.format("binaryFile")
        .schema(SOURCE_FILES)
        .option("pathGlobFilter", "*.csv")
        .option("maxFileAge", f"{settings.max_file_age_seconds:.0f}s")
    )
    if settings.max_files_per_trigger is not None:
        reader = reader.option("maxFilesPerTrigger", settings.max_files_per_trigger)
    else:
        # Every file that has arrived, up to this many bytes (at least one file).
        reader = reader.option("maxBytesPerTrigger", settings.max_bytes_per_trigger)
    if settings.archive_dir:
        reader = reader.option("cleanSource", "archive").option(
            "sourceArchiveDir", settings.archive_dir
        )
    # Selecting the listing only keeps the source from reading (and size-checking) content.
    return reader.load(settings.input_dir).select(*LISTING)


def read_ahead(settings: StreamSettings) -> ReadAhead:
    """The query's read-ahead, admitting files as its file source does."""
    return ReadAhead(
        Admission(
            settings.input_dir, settings.max_files_per_trigger, settings.max_bytes_per_trigger
        )
    )


def start_query(
    spark: SparkSession,
    settings: StreamSettings,
    committer: Committer,
    ahead: ReadAhead | None = None,
) -> StreamingQuery:
    """Start the stream: each micro-batch's files are read, validated and committed once."""
    handler = functools.partial(
        write_batch,
        committer=committer,
        checkpoint_dir=settings.checkpoint_dir,
        piece_bytes=settings.piece_bytes,
        ahead=ahead,
    )
    stream = (
        read_files(spark, settings)
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(handler)
        .option("checkpointLocation", settings.checkpoint_dir)
    )
    if settings.available_now:
        stream = stream.trigger(availableNow=True)
    elif settings.trigger_interval > 0:
        stream = stream.trigger(processingTime=f"{settings.trigger_interval} seconds")
    return stream.start()


def warm_up(spark: SparkSession, settings: StreamSettings) -> None:
    """Before the first file arrives, run the stream once over a temporary folder with one
    small file, writing nothing, and meanwhile read that file on the executors: the first real
    batch finds the file source, the checkpoint writes, the foreachBatch callback, the
    driver's and the executors' read paths warm (JIT, code generation, a Python worker). The
    two run at once: the stream's start is mostly the driver's, the executors' mostly the
    other core's. A failure here only costs the first batch that time."""
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="ingest-warm-") as folder,
        ThreadPoolExecutor(1, thread_name_prefix="warm-up") as executors,
    ):
        drop, checkpoint = Path(folder, "drop"), f"file://{Path(folder, 'checkpoint')}"
        drop.mkdir()
        (drop / "warm-up.csv").write_text(WARM_UP_FILE, encoding="utf-8")
        # Explicit file: URIs: on a cluster the default file system may be HDFS.
        dry = replace(settings, input_dir=f"file://{drop}", checkpoint_dir=checkpoint,
                      archive_dir=None)  # fmt: skip
        handler = functools.partial(
            dry_run_batch,
            checkpoint_dir=checkpoint,
            piece_bytes=settings.piece_bytes,
            rounds=WARM_UP_ROUNDS,
        )
        try:
            read = executors.submit(warm_up_executors, spark, drop / "warm-up.csv")
            query = (
                read_files(spark, dry)
                .writeStream.queryName("warm-up")
                .foreachBatch(handler)
                .option("checkpointLocation", checkpoint)
                .trigger(availableNow=True)
                .start()
            )
            if not query.awaitTermination(WARM_UP_TIMEOUT_S):
                query.stop()
            read.result(WARM_UP_TIMEOUT_S)
        except Exception as exc:
            log.warning("warm-up failed (the first batch will be slower): %s", exc)
            return
    log.info("warmed up in %d ms", (time.monotonic() - started) * 1000)
