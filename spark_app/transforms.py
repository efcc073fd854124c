"""Pure DataFrame -> DataFrame steps: split files into records, validate, shape for staging.

Each works on batch and streaming DataFrames alike. Rejection reasons and their order are the
data contract's (first failing rule wins).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_app import csvsplit
from spark_app.schemas import PRICE, SPLIT_RECORDS

EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")
MAX_ID_CHARS = 64

# Plain decimal notation only (no exponent, no thousands separator).
PRICE_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
NEGATIVE_PATTERN = r"^-.*[1-9]"
EVENT_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
# DATETIME's supported range; a time outside it is not an event time we can store.
MIN_YEAR, MAX_YEAR = 1000, 9999

STAGING_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"


@F.udf(returnType=SPLIT_RECORDS, useArrow=False)
def _split_file(content: bytes | bytearray | None) -> list[csvsplit.Record]:
    return csvsplit.split_records(bytes(content or b""))


def split_files(files: DataFrame) -> DataFrame:
    """One row per dropped file (binaryFile columns) -> one row per data record of the file."""
    return files.select(
        F.col("path").alias("source_file"),
        F.col("modificationTime").alias("file_modified"),
        F.explode(_split_file("content")).alias("record"),
    ).select(
        "source_file",
        "file_modified",
        F.col("record.line_no").alias("source_line"),
        F.col("record.raw").alias("raw_line"),
        F.col("record.fields").alias("fields"),
        F.col("record.problem").alias("problem"),
        F.col("record.detail").alias("detail"),
    )


def _field(fields: Column, index: int) -> Column:
    # get() is null past the end: a short row is malformed, not a failed batch (ANSI mode).
    return F.get(fields, index)


def _trimmed(column: Column) -> Column:
    # Spark's trim() strips spaces only; the contract trims any surrounding whitespace.
    return F.regexp_replace(column, r"^\s+|\s+$", "")


def _missing(column: Column) -> Column:
    return (column == "") | (F.char_length(column) > MAX_ID_CHARS)


def _reason(fields: Column) -> Column:
    """The first failing rule of the contract, or null for a valid record."""
    event_id, user_id, product_id, event_type, price, event_time = (
        _trimmed(_field(fields, i)) for i in range(6)
    )
    price_value = F.expr("try_cast(price_text AS DECIMAL(10,2))")
    time_value = F.expr("try_cast(time_text AS TIMESTAMP)")
    bad_price = ~price.rlike(PRICE_PATTERN) | price.rlike(NEGATIVE_PATTERN) | price_value.isNull()
    bad_time = (
        ~event_time.rlike(EVENT_TIME_PATTERN)
        | time_value.isNull()
        | ~F.year(time_value).between(MIN_YEAR, MAX_YEAR)
    )
    return (
        F.when(F.col("problem").isNotNull(), F.col("problem"))
        .when(F.size(fields) != len(csvsplit.EXPECTED_HEADER), F.lit("malformed_row"))
        .when(_missing(event_id), F.lit("missing_event_id"))
        .when(_missing(user_id), F.lit("missing_user_id"))
        .when(_missing(product_id), F.lit("missing_product_id"))
        .when(~event_type.isin(*EVENT_TYPES), F.lit("bad_event_type"))
        .when(bad_price, F.lit("bad_price"))
        .when(bad_time, F.lit("bad_event_time"))
    )


def validate(records: DataFrame) -> DataFrame:
    """Records -> typed event columns (null where rejected), `reason` and the raw line kept."""
    fields = F.col("fields")
    with_text = records.withColumns(
        {"price_text": _trimmed(_field(fields, 4)), "time_text": _trimmed(_field(fields, 5))}
    ).withColumn("reason", _reason(fields))
    valid = F.col("reason").isNull()

    def typed(value: Column) -> Column:
        return F.when(valid, value)

    return with_text.select(
        "source_file",
        "file_modified",
        "source_line",
        typed(_trimmed(_field(fields, 0))).alias("event_id"),
        typed(_trimmed(_field(fields, 1))).alias("user_id"),
        typed(_trimmed(_field(fields, 2))).alias("product_id"),
        typed(_trimmed(_field(fields, 3))).alias("event_type"),
        typed(F.expr("try_cast(price_text AS DECIMAL(10,2))")).cast(PRICE).alias("price"),
        typed(F.expr("try_cast(time_text AS TIMESTAMP)")).alias("event_time"),
        "reason",
        F.when(~valid, F.col("detail")).alias("detail"),
        # Valid rows need no raw copy in the database; rejected ones keep it for inspection.
        F.when(~valid, F.col("raw_line")).alias("raw_line"),
    )


def parse_events(files: DataFrame) -> DataFrame:
    """The whole pure pipeline: dropped files -> validated records."""
    return files.transform(split_files).transform(validate)


def to_staging(validated: DataFrame, query_id: str, batch_id: int) -> DataFrame:
    """Validated records -> rows of the events_staging table for one micro-batch.

    Times travel as UTC text so the JVM's default time zone never shifts a DATETIME.
    """
    return validated.select(
        F.lit(query_id).alias("query_id"),
        F.lit(batch_id).cast("bigint").alias("batch_id"),
        "source_file",
        F.date_format("file_modified", STAGING_TIME_FORMAT).alias("file_modified"),
        "source_line",
        "event_id",
        "user_id",
        "product_id",
        "event_type",
        "price",
        F.date_format("event_time", STAGING_TIME_FORMAT).alias("event_time"),
        "reason",
        "detail",
        "raw_line",
    )
