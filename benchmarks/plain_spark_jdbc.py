"""spark-submit job: Spark's plain DataFrame.write.jdbc(mode="append"), default options, per file.

The baseline most users write first. The benchmark runs it as
`spark-submit --jars JAR --driver-class-path JAR benchmarks/plain_spark_jdbc.py --sink KIND
FILE...` with the account in MYSQL_* or PG* variables; it prints how long its write loop took.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql.types import DecimalType, StringType, StructField, StructType, TimestampType

from benchmarks.baselines import JDBC, PLAIN_TABLE, WRITES_MARKER
from spark_app.common.database import SINKS, settings_from_env
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plain_spark_jdbc.py", description=__doc__)
    parser.add_argument("--sink", choices=SINKS, default="mysql")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    settings = settings_from_env(args.sink, os.environ)
    jdbc = JDBC[settings.kind]
    # Only what a JDBC write needs: the account and the driver class (spark-submit --jars).
    properties = {"user": settings.user, "password": settings.password, "driver": jdbc.driver}
    spark = build_session("plain-spark-jdbc")
    try:
        started = time.monotonic()
        for path in args.files:
            frame = spark.read.csv(path, schema=SCHEMA, header=True)
            frame.write.jdbc(jdbc.url(settings), PLAIN_TABLE, mode="append", properties=properties)
        # The write loop alone, comparable with the pipeline's time after its start-up.
        print(f"{WRITES_MARKER} {time.monotonic() - started:.3f}", flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
