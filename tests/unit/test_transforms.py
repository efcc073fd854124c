"""Pure DataFrame steps on small inline data: parsing, validation, staging shape."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_app.parse.schemas import RECORDS, SOURCE_FILES, VALIDATED
from spark_app.parse.validate import parse_events, split_files, to_staging, validate

T0 = datetime(2024, 1, 1)
FILE = "file:/drop/a.csv"
HEADER = "event_id,user_id,product_id,event_type,price,event_time"


def records(spark: SparkSession, *rows: tuple[int, list[str]]) -> DataFrame:
    """Records of one file, as split_files would give them."""
    return spark.createDataFrame(
        [(FILE, T0, line, ",".join(fields), fields, None, None) for line, fields in rows],
        RECORDS,
    )


def event(
    line: int,
    values: tuple[str, str, str, str, str, datetime] | None,
    reason: str | None = None,
    raw: str | None = None,
) -> tuple[object, ...]:
    """An expected validated row: typed values, or a reason and the raw line."""
    if values is None:
        return (FILE, T0, line, None, None, None, None, None, None, reason, None, raw)
    event_id, user, product, kind, price, time = values
    return (FILE, T0, line, event_id, user, product, kind, Decimal(price), time, None, None, None)


def test_valid_rows_are_trimmed_and_typed(spark: SparkSession) -> None:
    actual = records(
        spark,
        (2, [" e1 ", "\tu1", "p1 ", " view ", " 10.005 ", " 2024-01-01T10:00:00Z "]),
        (3, ["e2", "u2", "p2", "purchase", "0", "2024-01-01 10:00:00"]),
    ).transform(validate)
    expected = spark.createDataFrame(
        [
            event(2, ("e1", "u1", "p1", "view", "10.01", datetime(2024, 1, 1, 10))),
            event(3, ("e2", "u2", "p2", "purchase", "0.00", datetime(2024, 1, 1, 10))),
        ],
        VALIDATED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-10T12:30:45Z", datetime(2024, 3, 10, 12, 30, 45)),
        ("2024-03-10 12:30:45", datetime(2024, 3, 10, 12, 30, 45)),
        ("2024-03-10T12:30:45.5", datetime(2024, 3, 10, 12, 30, 45, 500000)),
        ("2024-03-10T12:30:45.123456789Z", datetime(2024, 3, 10, 12, 30, 45, 123456)),
        ("2024-03-10T12:30:45+02:00", datetime(2024, 3, 10, 10, 30, 45)),
        ("2024-03-10T23:30:45.25-05:30", datetime(2024, 3, 11, 5, 0, 45, 250000)),
        ("2024-02-30T00:00:00", None),
        ("2024-03-10", None),
        ("2024-03-10T12:30", None),
        ("2024-03-10T24:00:00", None),
        ("0999-12-31T00:00:00Z", None),
        ("2024-03-10T12:30:45+0200", None),
        ("10/03/2024 12:30:45", None),
        ("now", None),
    ],
)
def test_event_time_to_utc(spark: SparkSession, text: str, expected: datetime | None) -> None:
    actual = records(spark, (2, ["e", "u", "p", "view", "1", text])).transform(validate)
    row = actual.select("event_time", "reason").first()
    assert row is not None
    assert row["event_time"] == expected
    assert row["reason"] == (None if expected else "bad_event_time")


def test_price_rounding_half_up(spark: SparkSession) -> None:
    prices = ["1.005", "1.004999", "2.675", "0.125", "7", ".5", "+3.10", "-0.00", "99999999.994"]
    rounded = ["1.01", "1.00", "2.68", "0.13", "7.00", "0.50", "3.10", "0.00", "99999999.99"]
    rows = [(i, ["e", "u", "p", "view", p, "2024-01-01T00:00:00"]) for i, p in enumerate(prices)]
    validated = records(spark, *rows).transform(validate)
    expected = spark.createDataFrame(
        [(i, Decimal(r)) for i, r in enumerate(rounded)], "source_line int, expected decimal(10,2)"
    )
    compared = validated.join(expected, "source_line").orderBy("source_line")
    assert_column_equality(compared, "price", "expected")


REASON_CASES = [
    (["e", "u", "p", "view", "1"], "malformed_row"),
    (["e", "u", "p", "view", "1", "2024-01-01T00:00:00", "x"], "malformed_row"),
    (["  ", "u", "p", "view", "x", "bad"], "missing_event_id"),
    (["e" * 65, "u", "p", "view", "1", "2024-01-01T00:00:00"], "missing_event_id"),
    (["e", "", "p", "nope", "x", "bad"], "missing_user_id"),
    (["e", "u" * 65, "p", "view", "1", "2024-01-01T00:00:00"], "missing_user_id"),
    (["e", "u", " ", "view", "1", "2024-01-01T00:00:00"], "missing_product_id"),
    (["e", "u", "p" * 65, "view", "1", "2024-01-01T00:00:00"], "missing_product_id"),
    (["e", "u", "p", "View", "-1", "bad"], "bad_event_type"),
    (["e", "u", "p", "", "1", "2024-01-01T00:00:00"], "bad_event_type"),
    (["e", "u", "p", "view", "-0.01", "bad"], "bad_price"),
    (["e", "u", "p", "view", "abc", "2024-01-01T00:00:00"], "bad_price"),
    (["e", "u", "p", "view", "1e3", "2024-01-01T00:00:00"], "bad_price"),
    (["e", "u", "p", "view", "1,5", "2024-01-01T00:00:00"], "bad_price"),
    (["e", "u", "p", "view", "99999999.995", "2024-01-01T00:00:00"], "bad_price"),
    (["e", "u", "p", "view", "123456789", "2024-01-01T00:00:00"], "bad_price"),
    (["e", "u", "p", "view", "", "2024-01-01T00:00:00"], "bad_price"),
    (["e", "u", "p", "add_to_cart", "1", "yesterday"], "bad_event_time"),
    (["e", "u", "p", "remove_from_cart", "1", ""], "bad_event_time"),
]


def test_every_reason_in_contract_order(spark: SparkSession) -> None:
    cases = [(i + 2, fields) for i, (fields, _) in enumerate(REASON_CASES)]
    actual = records(spark, *cases).transform(validate)
    expected = spark.createDataFrame(
        [
            event(line, None, reason, ",".join(fields))
            for (line, fields), (_, reason) in zip(cases, REASON_CASES, strict=True)
        ],
        VALIDATED,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_problem_from_the_splitter_wins(spark: SparkSession) -> None:
    fields = ["e", "u", "p", "view", "1", "2024-01-01T00:00:00"]
    df = spark.createDataFrame(
        [(FILE, T0, 2, "raw", fields, "bad_header", "header was: x")], RECORDS
    ).transform(validate)
    expected = spark.createDataFrame(
        [(FILE, T0, 2, None, None, None, None, None, None, "bad_header", "header was: x", "raw")],
        VALIDATED,
    )
    assert_df_equality(df, expected, ignore_nullable=True)


def test_split_files_explodes_records_of_each_file(spark: SparkSession) -> None:
    good = f"{HEADER}\n1,u,p,view,1,2024-01-01T00:00:00Z\n\n2,u,p,view,1,2024-01-01T00:00:00Z\n"
    files = spark.createDataFrame(
        [
            ("file:/d/a.csv", T0, 0, good.encode()),
            ("file:/d/b.csv", T0, 0, b"a,b\n1,2\n"),
            ("file:/d/c.csv", T0, 0, b""),
        ],
        SOURCE_FILES,
    )
    actual = files.transform(split_files).select("source_file", "source_line", "problem")
    expected = spark.createDataFrame(
        [
            ("file:/d/a.csv", 2, None),
            ("file:/d/a.csv", 4, None),
            ("file:/d/b.csv", 2, "bad_header"),
        ],
        "source_file string, source_line int, problem string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_staging_rows_carry_the_batch_and_utc_text(spark: SparkSession) -> None:
    content = f"{HEADER}\ne1,u,p,view,2.5,2024-06-01T12:00:00.250+01:00\n".encode()
    files = spark.createDataFrame([("file:/d/a.csv", T0, 0, content)], SOURCE_FILES)
    staged = files.transform(parse_events).transform(lambda df: to_staging(df, "q-1", 7))
    row = staged.first()
    assert row is not None
    assert (row["query_id"], row["batch_id"], row["event_id"]) == ("q-1", 7, "e1")
    assert row["event_time"] == "2024-06-01 11:00:00.250000"
    assert row["file_modified"] == "2024-01-01 00:00:00.000000"
    assert row["raw_line"] is None
    assert staged.select(F.col("price").cast("string")).first() == ("2.50",)
