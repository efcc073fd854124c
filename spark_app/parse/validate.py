"""Pure DataFrame -> DataFrame steps: split files into records, then validate them.

Each works on batch and streaming DataFrames alike. Rejection reasons and their order are the
data contract's (the first failing rule wins). Fields arrive trimmed from the splitter.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import TaskContext
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from spark_app.common.markers import FILE_MARKER
from spark_app.common.memory import return_freed_memory
from spark_app.parse import csvsplit, pieces
from spark_app.parse.schemas import PIECES, PRICE, PROBES, RECORDS

EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")
MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 255

# Plain decimal notation only (no exponent, no thousands separator).
PRICE_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
NEGATIVE_PATTERN = r"^-.*[1-9]"
TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
# One @ with something on each side and no whitespace: an address, not a full RFC 5322 check.
# (?U): \s is any Unicode whitespace, as the contract trims (Java's default is ASCII only).
EMAIL_PATTERN = r"(?U)^[^@\s]+@[^@\s]+$"
# DATETIME's supported range; a time outside it is not one we can store.
MIN_YEAR, MAX_YEAR = 1000, 9999
# Rows per Arrow batch a task hands the JVM (Spark's own default batch size): the JVM holds one
# batch's buffers at a time, not a piece's.
OUT_ROWS = 10_000


def _split_pieces(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: pieces of files in, a row per data record and a marker per piece out."""
    return_freed_memory()
    for batch in batches:
        for index, row in enumerate(batch.to_pylist()):
            piece = pieces.Piece(**row)
            count = 0
            for records in pieces.read_piece(piece):
                count += records.num_rows
                yield from _with_file(records, batch, index).to_batches(OUT_ROWS)
            yield from _with_file(_marker(count), batch, index).to_batches()


def _marker(count: int) -> pa.Table:
    """The row that says a piece was read and how many records it gave."""
    return pa.table(
        {
            "kind": [FILE_MARKER],
            "source_line": pa.array([0], pa.int32()),
            "raw_line": [""],
            "fields": pa.array([[]], csvsplit.SPLIT_SCHEMA.field("fields").type),
            "problem": pa.nulls(1, pa.string()),
            "detail": [str(count)],
        },
        schema=csvsplit.SPLIT_SCHEMA,
    )


def _with_file(records: pa.Table, pieces_batch: pa.RecordBatch, index: int) -> pa.Table:
    owner = pa.repeat(index, records.num_rows).cast(pa.int32())
    columns = {
        "kind": records.column("kind"),
        "source_file": pieces_batch.column("path").take(owner),
        "file_modified": pieces_batch.column("modified").take(owner),
        **{name: records.column(name) for name in csvsplit.SPLIT_SCHEMA.names[1:]},
    }
    return pa.table(columns).select(RECORDS.fieldNames())


def split_pieces(planned: DataFrame) -> DataFrame:
    """Pieces of files (PIECES) -> one row per record and a marker per piece, in file order."""
    # Arrow batches, not pickled rows: the split is the costliest step of a catch-up.
    return planned.mapInArrow(_split_pieces, RECORDS)


# PIECES as the Arrow batches mapInArrow hands to _split_pieces (timestamps in the session's
# zone, UTC); PROBES as the probe hands them back.
_PIECES_ARROW = to_arrow_schema(PIECES, timezone="UTC")
_PROBES_ARROW = to_arrow_schema(PROBES)
_WAVE_ARROW = _PIECES_ARROW.append(pa.field("group", pa.int32(), False))


# The local property that names, for the Spark job its thread runs next, the groups of pieces
# each task of a split_wave frame reads (wave_property's value).
WAVE_PROPERTY = "ingest.wave"


def wave_property(groups: list[list[pieces.Piece]]) -> str:
    """The value of WAVE_PROPERTY for a wave of groups: their pieces as Arrow IPC, in base64
    (a local property is a string), each piece with its group's number."""
    rows = [{**asdict(piece), "group": number} for number, group in enumerate(groups)
            for piece in group]  # fmt: skip
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, _WAVE_ARROW) as writer:
        writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=_WAVE_ARROW))
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def _wave_groups(value: str) -> list[pa.Table]:
    """wave_property's value -> the pieces (PIECES) of each group, in order."""
    table = pa.ipc.open_stream(base64.b64decode(value)).read_all()
    numbers = table.column("group")
    count = pc.max(numbers).as_py() + 1 if table.num_rows else 0
    pieces_only = table.select(_PIECES_ARROW.names)
    return [pieces_only.filter(pc.equal(numbers, number)) for number in range(count)]


def split_wave(spark: SparkSession, count: int) -> DataFrame:
    """The records of a wave of `count` groups of pieces, one Spark partition per group, in
    the groups' order (RECORDS). Which groups: the WAVE_PROPERTY of the thread that runs the
    job (wave_property). The plan does not depend on them, so one frame, analysed and planned
    once, reads every wave of that many groups; building and planning a frame per wave cost
    about as much driver time as a small wave's read. The tasks are started by `spark.range`,
    one id per group: a parallelized Python list would need a second pool of Python workers
    (the RDD's) beside mapInArrow's, each worker holding its own copy of the libraries."""

    def read_groups(ids: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        value = TaskContext.get().getLocalProperty(WAVE_PROPERTY)  # type: ignore[union-attr]
        if not value:
            raise RuntimeError(f"a split_wave job ran without the {WAVE_PROPERTY} property")
        groups = _wave_groups(value)
        for id_batch in ids:
            for index in id_batch.column(0).to_pylist():
                yield from _split_pieces(iter(groups[index].to_batches()))

    return spark.range(0, count, 1, count).mapInArrow(read_groups, RECORDS)


def probe_ranges(
    spark: SparkSession, ranges: list[pieces.Range], tasks: int = 1
) -> list[pieces.Probe]:
    """Probe each range (pieces.probe), in the ranges' order. The tasks are started as
    split_wave starts its tasks, up to `tasks` of them, each probing a run of consecutive
    ranges: a probe is a few milliseconds of counting, less than a task's round trip."""

    def probe(ids: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for id_batch in ids:
            found = [
                asdict(pieces.probe(ranges[index])) for index in id_batch.column(0).to_pylist()
            ]
            yield pa.RecordBatch.from_pylist(found, schema=_PROBES_ARROW)

    count = len(ranges)
    probed = spark.range(0, count, 1, max(1, min(count, tasks))).mapInArrow(probe, PROBES).toArrow()
    return [pieces.Probe(**row) for row in probed.to_pylist()]


def split_here(spark: SparkSession, planned: list[pieces.Piece]) -> DataFrame:
    """The records of a few small pieces, split in this process by the code the executors
    run, as a DataFrame over their Arrow table (RECORDS): no task and no Python worker for a
    few kilobytes, where a Spark job's fixed cost is most of a live batch's time."""
    batch = pa.RecordBatch.from_pylist([asdict(piece) for piece in planned], schema=_PIECES_ARROW)
    records = pa.Table.from_batches(list(_split_pieces(iter([batch]))))
    return spark.createDataFrame(records, RECORDS)


def split_streamed(spark: SparkSession, piece: pieces.Piece, rows: int) -> Iterator[DataFrame]:
    """The records of one piece read whole and in order (a quoted or UTF-16 file, a header
    of no kind), split in this process block by block, as DataFrames of about `rows` records:
    its records cannot be cut by byte ranges, and this way no process holds more than a chunk
    of them, however large the file."""
    batch = pa.RecordBatch.from_pylist([asdict(piece)], schema=_PIECES_ARROW)
    pending: list[pa.RecordBatch] = []
    count = 0
    for records in _split_pieces(iter([batch])):
        pending.append(records)
        count += records.num_rows
        if count >= rows:
            yield spark.createDataFrame(pa.Table.from_batches(pending), RECORDS)
            pending, count = [], 0
    if pending:
        yield spark.createDataFrame(pa.Table.from_batches(pending), RECORDS)


def _field(index: int) -> Column:
    # get() is null past the end: records of another kind have fewer fields (ANSI mode).
    return F.get(F.col("fields"), index)


def _bad_id(column: Column) -> Column:
    return (column == "") | (F.char_length(column) > MAX_ID_CHARS)


def _bad_text(column: Column, *, may_be_empty: bool = False) -> Column:
    too_long = F.char_length(column) > MAX_TEXT_CHARS
    return too_long if may_be_empty else (column == "") | too_long


def _decimal(column: Column) -> Column:
    # Casting to DECIMAL(10,2) rounds half-up; try_cast gives null when it does not fit.
    return column.try_cast(PRICE)


def _bad_decimal(column: Column) -> Column:
    """Not a plain decimal, negative, or too large for DECIMAL(10,2) once rounded half-up
    (the record's `amount`: its decimal, computed once)."""
    return ~column.rlike(PRICE_PATTERN) | column.rlike(NEGATIVE_PATTERN) | F.col("amount").isNull()


def _timestamp(column: Column) -> Column:
    # The session time zone is UTC: a time without a zone is UTC, one with a zone is converted.
    # A trailing Z is that zone: dropped, so that Spark does not resolve a zone id for each
    # row (two regular expressions compiled a time, a third of the validation's cost).
    bare = F.when(column.endswith("Z"), column.substr(F.lit(1), F.length(column) - 1))
    return bare.otherwise(column).try_cast("timestamp")


def _bad_time(column: Column) -> Column:
    """Not in the contract's form, not a real date-time, or outside DATETIME's years (the
    record's `time`: its timestamp, computed once)."""
    value = F.col("time")
    return ~column.rlike(TIME_PATTERN) | value.isNull() | ~F.year(value).between(MIN_YEAR, MAX_YEAR)


def _event_reason() -> Column:
    event_id, user_id, product_id, event_type, price, event_time = (_field(i) for i in range(6))
    return (
        F.when(_bad_id(event_id), F.lit("missing_event_id"))
        .when(_bad_id(user_id), F.lit("missing_user_id"))
        .when(_bad_id(product_id), F.lit("missing_product_id"))
        .when(~event_type.isin(*EVENT_TYPES), F.lit("bad_event_type"))
        .when(_bad_decimal(price), F.lit("bad_price"))
        .when(_bad_time(event_time), F.lit("bad_event_time"))
    )


def _user_reason() -> Column:
    user_id, name, email, city, registered_at = (_field(i) for i in range(5))
    return (
        F.when(_bad_id(user_id), F.lit("missing_user_id"))
        .when(_bad_text(name), F.lit("bad_name"))
        .when(~email.rlike(EMAIL_PATTERN) | _bad_text(email), F.lit("bad_email"))
        .when(_bad_text(city, may_be_empty=True), F.lit("bad_city"))
        .when(_bad_time(registered_at), F.lit("bad_registered_at"))
    )


def _product_reason() -> Column:
    product_id, name, category, list_price = (_field(i) for i in range(4))
    return (
        F.when(_bad_id(product_id), F.lit("missing_product_id"))
        .when(_bad_text(name), F.lit("bad_name"))
        .when(_bad_text(category), F.lit("bad_category"))
        .when(_bad_decimal(list_price), F.lit("bad_list_price"))
    )


def _reason() -> Column:
    """The splitter's problem, else the first failing rule of the record's kind, else null."""
    kind = F.col("kind")
    return (
        F.when(F.col("problem").isNotNull(), F.col("problem"))
        .when(kind == csvsplit.EVENTS, _event_reason())
        .when(kind == csvsplit.USERS, _user_reason())
        .when(kind == csvsplit.PRODUCTS, _product_reason())
    )


# Spark compiles these expressions, for every kind of record, into one generated method per
# row, close to the 8,000 bytes of bytecode past which HotSpot never compiles a method: a rule
# more may need the code cut down (tests/integration/test_validate.py checks the size).
@lru_cache(maxsize=4)
def _expressions(
    application: str,
) -> tuple[dict[str, Column], Column, tuple[Column | str, ...]]:
    """The typed values, the reason column and the output columns, built once per Spark
    application: each column function is a round trip to the JVM, and building them for every
    micro-batch cost about 0.3 s of a small batch's time. Unresolved columns can be reused by
    any plan."""
    valid = F.col("reason").isNull()
    kind = F.col("kind")
    events, users, products = csvsplit.EVENTS, csvsplit.USERS, csvsplit.PRODUCTS
    # Each record's one time and one decimal, computed once for the rules and the output
    # (a projection of its own: Spark does not inline a costly expression used twice).
    typed = {
        "time": F.when(kind == events, _timestamp(_field(5))).when(
            kind == users, _timestamp(_field(4))
        ),
        "amount": F.when(kind == events, _decimal(_field(4))).when(
            kind == products, _decimal(_field(3))
        ),
    }

    def value(of_kind: str, column: Column) -> Column:
        return F.when(valid & (kind == of_kind), column)

    return (
        typed,
        _reason(),
        (
            "kind",
            "source_file",
            "file_modified",
            "source_line",
            value(events, _field(0)).alias("event_id"),
            F.coalesce(value(events, _field(1)), value(users, _field(0))).alias("user_id"),
            F.coalesce(value(events, _field(2)), value(products, _field(0))).alias("product_id"),
            value(events, _field(3)).alias("event_type"),
            value(events, F.col("amount")).alias("price"),
            value(events, F.col("time")).alias("event_time"),
            F.coalesce(value(users, _field(1)), value(products, _field(1))).alias("name"),
            value(users, _field(2)).alias("email"),
            value(users, _field(3)).alias("city"),
            value(users, F.col("time")).alias("registered_at"),
            value(products, _field(2)).alias("category"),
            value(products, F.col("amount")).alias("list_price"),
            "reason",
            F.when(~valid | (kind == FILE_MARKER), F.col("detail")).alias("detail"),
            # Valid rows need no raw copy in the database; rejected ones keep it for inspection.
            F.when(~valid, F.col("raw_line")).alias("raw_line"),
        ),
    )


def validate(records: DataFrame) -> DataFrame:
    """Records -> typed columns of their kind (null where rejected), `reason`, the raw line."""
    typed, reason, columns = _expressions(records.sparkSession.sparkContext.applicationId)
    return records.withColumns(typed).withColumn("reason", reason).select(*columns)


def parse_pieces(planned: DataFrame) -> DataFrame:
    """The whole pure pipeline: pieces of dropped files -> validated records of every kind."""
    return planned.transform(split_pieces).transform(validate)
