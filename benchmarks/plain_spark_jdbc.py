"""spark-submit job: Spark's plain DataFrame.write.jdbc(mode="append"), default options, per file.

The baseline most users write first; run by the benchmark with the files as arguments.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql.types import DecimalType, StringType, StructField, StructType, TimestampType

from benchmarks.baselines import PLAIN_TABLE, WRITES_MARKER
from spark_app.job.config import mysql_from_env
from spark_app.job.session import build_session

SCHEMA = StructType(
    [
        StructField("event_id", StringType()),
        StructField("user_id", StringType()),
        StructField("product_id", StringType()),
        StructField("event_type", StringType()),
        StructField("price", DecimalType(10, 2)),
        StructField("event_time", TimestampType()),
    ]
)


def main(files: list[str]) -> int:
    settings = mysql_from_env(os.environ)
    spark = build_session("plain-spark-jdbc")
    driver = os.environ.get("JDBC_DRIVER", "org.mariadb.jdbc.Driver")
    properties = {"user": settings.user, "password": settings.password, "driver": driver}
    try:
        started = time.monotonic()
        for path in files:
            frame = spark.read.csv(path, schema=SCHEMA, header=True)
            frame.write.jdbc(settings.jdbc_url, PLAIN_TABLE, mode="append", properties=properties)
        # The write loop alone, comparable with the pipeline's time after its start-up.
        print(f"{WRITES_MARKER} {time.monotonic() - started:.3f}", flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
