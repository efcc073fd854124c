"""Wiring of the streaming query: the file source in, the batch writer out."""

from __future__ import annotations

import functools

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from spark_app.job.config import StreamSettings
from spark_app.parse.schemas import SOURCE_FILES
from spark_app.parse.validate import parse_files
from spark_app.sink.writer import BatchWriter, write_batch

QUERY_NAME = "ingest"


def read_files(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The drop folder as a stream of whole files; temp names (., _, non-.csv) are ignored."""
    reader = (
        spark.readStream.format("binaryFile")
        .schema(SOURCE_FILES)
        .option("pathGlobFilter", "*.csv")
        .option("maxFilesPerTrigger", settings.max_files_per_trigger)
        .option("maxFileAge", f"{settings.max_file_age_days * 86_400:.0f}s")
    )
    if settings.archive_dir:
        reader = reader.option("cleanSource", "archive").option(
            "sourceArchiveDir", settings.archive_dir
        )
    return reader.load(settings.input_dir)


def start_query(
    spark: SparkSession, settings: StreamSettings, writer: BatchWriter
) -> StreamingQuery:
    """Start the stream: parse and validate, then commit each micro-batch exactly once."""
    stream = (
        read_files(spark, settings)
        .transform(parse_files)
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(
            functools.partial(write_batch, writer=writer, checkpoint_dir=settings.checkpoint_dir)
        )
        .option("checkpointLocation", settings.checkpoint_dir)
    )
    if settings.available_now:
        stream = stream.trigger(availableNow=True)
    elif settings.trigger_interval > 0:
        stream = stream.trigger(processingTime=f"{settings.trigger_interval} seconds")
    return stream.start()
