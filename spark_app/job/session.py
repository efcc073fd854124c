"""The one place that builds the SparkSession."""

from __future__ import annotations

import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

from spark_app.common.memory import return_freed_memory

APP_NAME = "stream-ingest"


# Spark writes checkpoint files through Hadoop's FileContext by default, whose rename asks
# `readlink` four times per file, each a process spawned by the JVM when Hadoop's native
# library is absent (as in pip's pyspark): twelve processes and 35-50 ms a trigger here. On a
# local file system rename(2) is atomic, so a local checkpoint is written through Spark's
# FileSystem-based manager (its own fallback for stores without FileContext). The class moved
# to a subpackage in Spark 4.1.
CHECKPOINT_MANAGER = "spark.sql.streaming.checkpointFileManagerClass"
FILE_SYSTEM_CHECKPOINTS = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager",
    "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager",
)


def build_session(
    app_name: str = APP_NAME,
    master: str | None = None,
    extra: dict[str, str] | None = None,
    *,
    local_checkpoints: bool = True,
) -> SparkSession:
    """Get or create the session; spark-submit (or compose) chooses the master.
    `local_checkpoints`: the streams' checkpoints are folders of a local file system."""
    # Python workers run the driver's interpreter (with pyarrow and this project) unless the
    # deployment names another one with PYSPARK_PYTHON.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return_freed_memory()
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ and not SparkConf().contains("spark.master"):
        # Run as plain `python spark_app/main.py`: no spark-submit chose a master. (Under
        # spark-submit the gateway variable is set; SparkConf() cannot see its JVM's conf yet.)
        builder = builder.master("local[*]")
    settings = {
        # Event times are UTC end to end, whatever the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        # Micro-batches are small: a few partitions, not the default 200.
        "spark.sql.shuffle.partitions": "4",
        # Stream state stays small; keep fewer old batches of checkpoint metadata.
        "spark.sql.streaming.minBatchesToRetain": "20",
        # A restart re-lists the files of the last batch; above this many paths Spark does it
        # as a distributed job, which costs seconds after a catch-up batch of a few hundred
        # files. Listing up to 1,000 paths on the driver is quicker.
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000",
        # Spark 4.1+ plans every micro-batch of a stateless query adaptively; a batch here is
        # a few narrow steps with no shuffle to adapt, and the planning costs each trigger.
        "spark.sql.adaptive.streaming.stateless.enabled": "false",
        # A partition's validated rows (at most a piece of input) come back to the
        # driver in the task's status message rather than through the block manager, which
        # can lose a large result under memory pressure (TaskResultLost).
        "spark.task.maxDirectResultSize": str(64 << 20),
        # The JVM and its Python workers talk over a Unix domain socket, not loopback TCP: on
        # TCP each Python task waited ~40 ms for the end of its input (a small write held by
        # Nagle's algorithm until the delayed ACK), a tenth of a small wave's time.
        "spark.python.unix.domain.socket.enabled": "true",
        **(extra or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if local_checkpoints:
        _checkpoints_by_file_system(spark)
    return spark


def _checkpoints_by_file_system(spark: SparkSession) -> None:
    """Spark's FileSystem-based checkpoint manager, unless the deployment chose one."""
    if spark.conf.get(CHECKPOINT_MANAGER, None):
        return
    jvm = spark.sparkContext._jvm
    if jvm is None:
        return
    for name in FILE_SYSTEM_CHECKPOINTS:
        try:
            jvm.java.lang.Class.forName(name)
        except Exception:
            continue  # another Spark version's name
        spark.conf.set(CHECKPOINT_MANAGER, name)
        return
