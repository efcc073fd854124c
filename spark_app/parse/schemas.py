"""Schemas of the source, the split records and the validated rows."""

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Spark's binaryFile source: one row per dropped file (the CSV is parsed with real RFC 4180
# rules and a per-file header check, which Spark's CSV reader cannot do: it maps by position).
SOURCE_FILES = StructType(
    [
        StructField("path", StringType(), False),
        StructField("modificationTime", TimestampType(), False),
        StructField("length", LongType(), False),
        StructField("content", BinaryType(), True),
    ]
)

# The listing the stream selects from it: the file source never reads a file's content, so no
# file is too large for it.
LISTING = ("path", "modificationTime", "length")

# What one task of the split reads (pieces.Piece): a byte range of a file, or the whole file.
PIECES = StructType(
    [
        StructField("path", StringType(), False),
        StructField("modified", TimestampType(), False),
        StructField("start", LongType(), False),
        StructField("end", LongType(), False),
        StructField("first_line", LongType(), False),
        StructField("kind", StringType(), True),
        StructField("whole", BooleanType(), False),
    ]
)

# What a probe finds of one range of a large file (pieces.Probe).
PROBES = StructType(
    [
        StructField("path", StringType(), False),
        StructField("index", LongType(), False),
        StructField("start", LongType(), False),
        StructField("end", LongType(), False),
        StructField("lines", LongType(), False),
        StructField("quoted", BooleanType(), False),
        StructField("utf16", BooleanType(), False),
        StructField("kind", StringType(), True),
    ]
)

# One record of a file, before validation (the Arrow rows of validate.split_files). Every file
# also gives one row of kind "file" (line 0, no fields), so that a file without data lines is
# still recorded as processed.
RECORDS = StructType(
    [
        StructField("kind", StringType(), False),
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

# A validated record: typed values of its kind where valid, `reason` set where rejected.
VALIDATED = StructType(
    [
        StructField("kind", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("file_modified", TimestampType(), False),
        StructField("source_line", IntegerType(), False),
        StructField("event_id", StringType(), True),
        StructField("user_id", StringType(), True),
        StructField("product_id", StringType(), True),
        StructField("event_type", StringType(), True),
        StructField("price", PRICE, True),
        StructField("event_time", TimestampType(), True),
        StructField("name", StringType(), True),
        StructField("email", StringType(), True),
        StructField("city", StringType(), True),
        StructField("registered_at", TimestampType(), True),
        StructField("category", StringType(), True),
        StructField("list_price", PRICE, True),
        StructField("reason", StringType(), True),
        StructField("detail", StringType(), True),
        StructField("raw_line", StringType(), True),
    ]
)
