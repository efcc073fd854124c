"""Wiring of the streaming query: the file source in, the batch writer out."""

from __future__ import annotations

import functools

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from spark_app.job.batches import write_batch
from spark_app.job.config import StreamSettings
from spark_app.parse.schemas import LISTING, SOURCE_FILES
from spark_app.sink.committer import Committer

QUERY_NAME = "ingest"


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


def start_query(
    spark: SparkSession, settings: StreamSettings, committer: Committer
) -> StreamingQuery:
    """Start the stream: each micro-batch's files are read, validated and committed once."""
    handler = functools.partial(
        write_batch,
        committer=committer,
        checkpoint_dir=settings.checkpoint_dir,
        piece_bytes=settings.piece_bytes,
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
