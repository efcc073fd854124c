"""Pure DataFrame -> DataFrame steps: split files into records, validate, shape for staging.

Each works on batch and streaming DataFrames alike. Rejection reasons and their order are the
data contract's (first failing rule wins).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_app.parse import csvsplit
from spark_app.parse.schemas import PRICE, RECORDS

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


def _split_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: whole files in, one Arrow row per data record out."""
    for batch in batches:
        paths = batch.column("path")
        modified = batch.column("modificationTime")
        owners: list[int] = []
        lines: list[int] = []
        raws: list[str] = []
        fields: list[list[str]] = []
        problems: list[str | None] = []
        details: list[str | None] = []
        for index, content in enumerate(batch.column("content").to_pylist()):
            for record in csvsplit.split_records(content or b""):
                owners.append(index)
                lines.append(record.line_no)
                raws.append(record.raw)
                fields.append(record.fields)
                problems.append(record.problem)
                details.append(record.detail)
        take = pa.array(owners, pa.int32())
        yield pa.RecordBatch.from_arrays(
            [
                paths.take(take),
                modified.take(take),
                pa.array(lines, pa.int32()),
                pa.array(raws, pa.string()),
                pa.array(fields, pa.list_(pa.string())),
                pa.array(problems, pa.string()),
                pa.array(details, pa.string()),
            ],
            names=RECORDS.fieldNames(),
        )


def split_files(files: DataFrame) -> DataFrame:
    """One row per dropped file (binaryFile columns) -> one row per data record of the file."""
    # Arrow batches, not pickled rows: the split is the costliest step of a catch-up.
    return files.select("path", "modificationTime", "content").mapInArrow(_split_batches, RECORDS)


def _field(fields: Column, index: int) -> Column:
    # get() is null past the end: a short row is malformed, not a failed batch (ANSI mode).
    return F.get(fields, index)


# Whitespace as in Java's \s. Spark's trim() strips spaces only, and btrim with this set costs
# a third less than a regular expression.
WHITESPACE = " \t\n\u000b\f\r"


def _trimmed(column: Column) -> Column:
    """The contract trims any surrounding whitespace, not only spaces."""
    return F.btrim(column, F.lit(WHITESPACE))


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
