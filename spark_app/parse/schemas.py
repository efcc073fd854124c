"""Schemas of the source, the parsed records and the staged rows."""

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Spark's binaryFile source: one row per dropped file. Read whole, so the CSV is parsed with
# real RFC 4180 rules and a per-file header check (Spark's CSV reader maps by position).
SOURCE_FILES = StructType(
    [
        StructField("path", StringType(), False),
        StructField("modificationTime", TimestampType(), False),
        StructField("length", LongType(), False),
        StructField("content", BinaryType(), True),
    ]
)

# One record of a file, before validation (the Arrow rows of transforms.split_files).
RECORDS = StructType(
    [
        StructField("source_file", StringType(), False),
        StructField("file_modified", TimestampType(), False),
        StructField("source_line", IntegerType(), False),
        StructField("raw_line", StringType(), False),
        StructField("fields", ArrayType(StringType(), False), False),
        StructField("problem", StringType(), True),
        StructField("detail", StringType(), True),
    ]
)

PRICE = DecimalType(10, 2)

# A validated record: typed values where valid, `reason` set where rejected.
VALIDATED = StructType(
    [
        StructField("source_file", StringType(), False),
        StructField("file_modified", TimestampType(), False),
        StructField("source_line", IntegerType(), False),
        StructField("event_id", StringType(), True),
        StructField("user_id", StringType(), True),
        StructField("product_id", StringType(), True),
        StructField("event_type", StringType(), True),
        StructField("price", PRICE, True),
        StructField("event_time", TimestampType(), True),
        StructField("reason", StringType(), True),
        StructField("detail", StringType(), True),
        StructField("raw_line", StringType(), True),
    ]
)
