"""The DataFrame steps on Spark, on small inline data: splitting files, validating events, users
and products, the two chained (parse_pieces), and their Arrow output through the sink's
prepare."""

from __future__ import annotations

import tempfile
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from spark_app.parse.pieces import Piece, SourceFile, in_groups, pieces_of, ranges_to_probe
from spark_app.parse.schemas import PIECES, RECORDS, VALIDATED
from spark_app.parse.validate import (
    WAVE_PROPERTY,
    parse_pieces,
    probe_ranges,
    split_pieces,
    split_wave,
    validate,
    wave_property,
)
from spark_app.sink.batch import MinuteTotal, minute_totals, prepare

pytestmark = pytest.mark.integration

# Where the file tests drop their files (the split reads them from disk).
DROP = Path(tempfile.mkdtemp(prefix="validate-"))
D = f"file:{DROP}"

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FILE = "file:/drop/a.csv"
EVENTS_HEADER = "event_id,user_id,product_id,event_type,price,event_time"
USERS_HEADER = "user_id,name,email,city,registered_at"
PRODUCTS_HEADER = "product_id,name,category,list_price"
TIME = "2024-01-01T00:00:00"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """A UTC instant (timezone-aware, so the machine's zone cannot shift it)."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def records(spark: SparkSession, kind: str, *rows: tuple[int, list[str]]) -> DataFrame:
    """Records of one file of this kind, as split_pieces gives them (fields already trimmed)."""
    return spark.createDataFrame(
        [(kind, FILE, T0, line, ",".join(fields), fields, None, None) for line, fields in rows],
        RECORDS,
    )


def row(
    kind: str,
    line: int,
    *,
    reason: str | None = None,
    detail: str | None = None,
    raw: str | None = None,
    source_file: str = FILE,
    file_modified: datetime = T0,
    **values: object,
) -> tuple[object, ...]:
    """An expected validated row: the named columns set, every other column null."""
    unknown = set(values) - set(VALIDATED.fieldNames())
    if unknown:
        raise TypeError(f"not a validated column: {sorted(unknown)}")
    named = {
        "kind": kind,
        "source_file": source_file,
        "file_modified": file_modified,
        "source_line": line,
        "reason": reason,
        "detail": detail,
        "raw_line": raw,
        **values,
    }
    return tuple(named.get(name) for name in VALIDATED.fieldNames())


def rejected(kind: str, line: int, fields: list[str], reason: str) -> tuple[object, ...]:
    """An expected row rejected by a rule: only the reason and the raw line are kept."""
    return row(kind, line, reason=reason, raw=",".join(fields))


def expected(spark: SparkSession, *rows: tuple[object, ...]) -> DataFrame:
    return spark.createDataFrame(list(rows), VALIDATED)


def assert_validated(actual: DataFrame, wanted: DataFrame) -> None:
    assert_df_equality(actual, wanted, ignore_row_order=True, ignore_nullable=True)


# Events ------------------------------------------------------------------------------------


def test_valid_events_are_typed(spark: SparkSession) -> None:
    actual = records(
        spark,
        "events",
        (2, ["e1", "u1", "p1", "view", "10.005", "2024-01-01T10:00:00Z"]),
        (3, ["e2", "u2", "p2", "purchase", "0", "2024-01-01 10:00:00"]),
    ).transform(validate)
    wanted = expected(
        spark,
        row("events", 2, event_id="e1", user_id="u1", product_id="p1", event_type="view",
            price=Decimal("10.01"), event_time=utc(2024, 1, 1, 10)),
        row("events", 3, event_id="e2", user_id="u2", product_id="p2", event_type="purchase",
            price=Decimal("0.00"), event_time=utc(2024, 1, 1, 10)),
    )  # fmt: skip
    assert_validated(actual, wanted)


TIME_CASES = [
    ("2024-03-10T12:30:45Z", utc(2024, 3, 10, 12, 30, 45)),
    ("2024-03-10 12:30:45", utc(2024, 3, 10, 12, 30, 45)),
    ("2024-03-10T12:30:45.5", utc(2024, 3, 10, 12, 30, 45, 500000)),
    ("2024-03-10T12:30:45.123456789Z", utc(2024, 3, 10, 12, 30, 45, 123456)),
    ("2024-03-10T12:30:45+02:00", utc(2024, 3, 10, 10, 30, 45)),
    ("2024-03-10T23:30:45.25-05:30", utc(2024, 3, 11, 5, 0, 45, 250000)),
    ("2024-02-30T00:00:00", None),
    ("2024-03-10", None),
    ("2024-03-10T12:30", None),
    ("2024-03-10T24:00:00", None),
    ("0999-12-31T00:00:00Z", None),
    ("2024-03-10T12:30:45+0200", None),
    ("10/03/2024 12:30:45", None),
    ("now", None),
]


def test_event_time_is_converted_to_utc(spark: SparkSession) -> None:
    lines = [(line, text) for line, (text, _) in enumerate(TIME_CASES, start=2)]
    actual = records(
        spark, "events", *((line, ["e", "u", "p", "view", "1", text]) for line, text in lines)
    ).transform(validate)
    wanted = spark.createDataFrame(
        [
            (line, value, None if value else "bad_event_time")
            for line, (_, value) in enumerate(TIME_CASES, start=2)
        ],
        "source_line int, event_time timestamp, reason string",
    )
    assert_validated(actual.select("source_line", "event_time", "reason"), wanted)


def test_price_rounding_half_up(spark: SparkSession) -> None:
    prices = ["1.005", "1.004999", "2.675", "0.125", "7", ".5", "+3.10", "-0.00", "99999999.994"]
    rounded = ["1.01", "1.00", "2.68", "0.13", "7.00", "0.50", "3.10", "0.00", "99999999.99"]
    rows = [(i, ["e", "u", "p", "view", p, TIME]) for i, p in enumerate(prices)]
    validated = records(spark, "events", *rows).transform(validate)
    wanted = spark.createDataFrame(
        [(i, Decimal(r)) for i, r in enumerate(rounded)], "source_line int, expected decimal(10,2)"
    )
    compared = validated.join(wanted, "source_line").orderBy("source_line")
    assert compared.count() == len(prices)
    assert_column_equality(compared, "price", "expected")


EVENT_REASONS = [
    (["", "", "", "nope", "x", "bad"], "missing_event_id"),
    (["e" * 65, "u", "p", "view", "1", TIME], "missing_event_id"),
    (["e", "", "", "nope", "x", "bad"], "missing_user_id"),
    (["e", "u" * 65, "p", "view", "1", TIME], "missing_user_id"),
    (["e", "u", "", "nope", "x", "bad"], "missing_product_id"),
    (["e", "u", "p" * 65, "view", "1", TIME], "missing_product_id"),
    (["e", "u", "p", "View", "-1", "bad"], "bad_event_type"),
    (["e", "u", "p", "", "1", TIME], "bad_event_type"),
    (["e", "u", "p", "view", "-0.01", "bad"], "bad_price"),
    (["e", "u", "p", "view", "abc", TIME], "bad_price"),
    (["e", "u", "p", "view", "1e3", TIME], "bad_price"),
    (["e", "u", "p", "view", "1,5", TIME], "bad_price"),
    (["e", "u", "p", "view", "99999999.995", TIME], "bad_price"),
    (["e", "u", "p", "view", "123456789", TIME], "bad_price"),
    (["e", "u", "p", "view", "", TIME], "bad_price"),
    (["e", "u", "p", "add_to_cart", "1", "yesterday"], "bad_event_time"),
    (["e", "u", "p", "remove_from_cart", "1", ""], "bad_event_time"),
]


def reasons_in_order(
    spark: SparkSession, kind: str, cases: list[tuple[list[str], str]]
) -> tuple[DataFrame, DataFrame]:
    """The validated cases (one per line) and the rows expected for them."""
    numbered = [(line, fields) for line, (fields, _) in enumerate(cases, start=2)]
    actual = records(spark, kind, *numbered).transform(validate)
    wanted = expected(
        spark,
        *(
            rejected(kind, line, fields, reason)
            for line, (fields, reason) in enumerate(cases, start=2)
        ),
    )
    return actual, wanted


def test_every_event_reason_in_contract_order(spark: SparkSession) -> None:
    assert_validated(*reasons_in_order(spark, "events", EVENT_REASONS))


def test_ids_of_64_characters_are_accepted(spark: SparkSession) -> None:
    fields = ["e" * 64, "u" * 64, "p" * 64, "view", "1", TIME]
    actual = records(spark, "events", (2, fields)).transform(validate)
    assert_validated(
        actual.select("event_id", "user_id", "product_id", "reason"),
        spark.createDataFrame(
            [("e" * 64, "u" * 64, "p" * 64, None)],
            "event_id string, user_id string, product_id string, reason string",
        ),
    )


# Users -------------------------------------------------------------------------------------


def test_valid_users_are_typed(spark: SparkSession) -> None:
    actual = records(
        spark,
        "users",
        (2, ["u1", "Ann Lee", "ann@example.com", "Oslo", "2024-05-01T08:00:00+02:00"]),
        (3, ["u2", "N" * 255, "b@c", "", "2024-05-01 08:00:00"]),
        (4, ["u3", "Zoë", "x" * 251 + "@y.z", "C" * 255, "2024-05-01T08:00:00.5Z"]),
    ).transform(validate)
    wanted = expected(
        spark,
        row("users", 2, user_id="u1", name="Ann Lee", email="ann@example.com", city="Oslo",
            registered_at=utc(2024, 5, 1, 6)),
        row("users", 3, user_id="u2", name="N" * 255, email="b@c", city="",
            registered_at=utc(2024, 5, 1, 8)),
        row("users", 4, user_id="u3", name="Zoë", email="x" * 251 + "@y.z", city="C" * 255,
            registered_at=utc(2024, 5, 1, 8, 0, 0, 500000)),
    )  # fmt: skip
    assert_validated(actual, wanted)


USER_REASONS = [
    (["", "", "bad", "C" * 256, "bad"], "missing_user_id"),
    (["u" * 65, "Ann", "a@b", "Oslo", TIME], "missing_user_id"),
    (["u", "", "bad", "C" * 256, "bad"], "bad_name"),
    (["u", "N" * 256, "a@b", "Oslo", TIME], "bad_name"),
    (["u", "Ann", "", "C" * 256, "bad"], "bad_email"),
    (["u", "Ann", "ann.example.com", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "a@b@c", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "a b@c", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "a@b\tc", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "@b", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "a@", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "x" * 252 + "@y.z", "Oslo", TIME], "bad_email"),
    (["u", "Ann", "a@b", "C" * 256, "bad"], "bad_city"),
    (["u", "Ann", "a@b", "Oslo", "yesterday"], "bad_registered_at"),
    (["u", "Ann", "a@b", "Oslo", ""], "bad_registered_at"),
    (["u", "Ann", "a@b", "Oslo", "2024-02-30T00:00:00"], "bad_registered_at"),
]


def test_every_user_reason_in_contract_order(spark: SparkSession) -> None:
    assert_validated(*reasons_in_order(spark, "users", USER_REASONS))


def test_an_email_with_unicode_whitespace_inside_is_rejected(spark: SparkSession) -> None:
    cases = [
        (line, ["u", "Ann", f"a{space}b@c.d", "Oslo", TIME])
        for line, space in enumerate(["\u00a0", "\u2003", "\u3000"], start=2)
    ]
    actual = records(spark, "users", *cases).transform(validate)
    wanted = expected(
        spark, *(rejected("users", line, fields, "bad_email") for line, fields in cases)
    )
    assert_validated(actual, wanted)


# Products ----------------------------------------------------------------------------------


def test_valid_products_are_typed(spark: SparkSession) -> None:
    actual = records(
        spark,
        "products",
        (2, ["p1", "Lamp", "home", "19.995"]),
        (3, ["p2", "N" * 255, "C" * 255, "0"]),
    ).transform(validate)
    wanted = expected(
        spark,
        row("products", 2, product_id="p1", name="Lamp", category="home",
            list_price=Decimal("20.00")),
        row("products", 3, product_id="p2", name="N" * 255, category="C" * 255,
            list_price=Decimal("0.00")),
    )  # fmt: skip
    assert_validated(actual, wanted)


PRODUCT_REASONS = [
    (["", "", "", "x"], "missing_product_id"),
    (["p" * 65, "Lamp", "home", "1"], "missing_product_id"),
    (["p", "", "", "x"], "bad_name"),
    (["p", "N" * 256, "home", "1"], "bad_name"),
    (["p", "Lamp", "", "x"], "bad_category"),
    (["p", "Lamp", "C" * 256, "1"], "bad_category"),
    (["p", "Lamp", "home", "-1"], "bad_list_price"),
    (["p", "Lamp", "home", "abc"], "bad_list_price"),
    (["p", "Lamp", "home", "1e3"], "bad_list_price"),
    (["p", "Lamp", "home", "99999999.995"], "bad_list_price"),
    (["p", "Lamp", "home", ""], "bad_list_price"),
]


def test_every_product_reason_in_contract_order(spark: SparkSession) -> None:
    assert_validated(*reasons_in_order(spark, "products", PRODUCT_REASONS))


# What the splitter decided -----------------------------------------------------------------


def test_problem_from_the_splitter_wins(spark: SparkSession) -> None:
    # Fields that would pass validation: the splitter's problem must still be the reason.
    fields_of = {
        "events": ["e", "u", "p", "view", "1", TIME],
        "users": ["u", "Ann", "a@b", "Oslo", TIME],
        "products": ["p", "Lamp", "home", "1"],
    }
    problems = [("bad_header", "header was: x"), ("malformed_row", "3 fields, expected 6")]
    cases = [
        (kind, line, problem, detail)
        for line, (kind, (problem, detail)) in enumerate(
            ((kind, p) for kind in fields_of for p in problems), start=2
        )
    ]
    actual = spark.createDataFrame(
        [
            (kind, FILE, T0, line, f"raw {line}", fields_of[kind], problem, detail)
            for kind, line, problem, detail in cases
        ],
        RECORDS,
    ).transform(validate)
    wanted = expected(
        spark,
        *(
            row(kind, line, reason=problem, detail=detail, raw=f"raw {line}")
            for kind, line, problem, detail in cases
        ),
    )
    assert_validated(actual, wanted)


def test_a_file_marker_keeps_its_record_count(spark: SparkSession) -> None:
    actual = spark.createDataFrame([("file", FILE, T0, 0, "", [], None, "12")], RECORDS).transform(
        validate
    )
    assert_validated(actual, expected(spark, row("file", 0, detail="12")))


# Files -------------------------------------------------------------------------------------


def drop(spark: SparkSession, *files: tuple[str, datetime, str]) -> DataFrame:
    """Dropped files (written to DROP), each planned as one whole piece."""
    planned = []
    for path, modified, text in files:
        local = Path(path.removeprefix("file:"))
        local.write_text(text, encoding="utf-8")
        size = local.stat().st_size
        planned.append(astuple(Piece(path, modified, 0, size, 1, None, True)))
    return spark.createDataFrame(planned, PIECES)


def test_split_pieces_gives_a_marker_per_file_and_a_row_per_record(spark: SparkSession) -> None:
    events = f"{EVENTS_HEADER}\n1,u,p,view,1,{TIME}\n\n2,u,p,view,1,{TIME}\n3,u\n"
    files = drop(
        spark,
        (f"{D}/a.csv", T0, events),
        (f"{D}/b.csv", T0, "a,b\n1,2\n"),
        (f"{D}/c.csv", T0, ""),
        (f"{D}/u.csv", T0, f"{USERS_HEADER}\nu1,Ann,a@b,Oslo,{TIME}\n"),
        (f"{D}/p.csv", T0, f"{PRODUCTS_HEADER}\np1,Lamp,home,1\n"),
    )
    actual = files.transform(split_pieces).select(
        "kind", "source_file", "source_line", "fields", "problem", "detail"
    )
    wanted = spark.createDataFrame(
        [
            ("file", f"{D}/a.csv", 0, [], None, "3"),
            ("events", f"{D}/a.csv", 2, ["1", "u", "p", "view", "1", TIME], None, None),
            ("events", f"{D}/a.csv", 4, ["2", "u", "p", "view", "1", TIME], None, None),
            ("events", f"{D}/a.csv", 5, [], "malformed_row", "2 fields, expected 6"),
            ("file", f"{D}/b.csv", 0, [], None, "1"),
            ("events", f"{D}/b.csv", 2, [], "bad_header", "header was: a,b"),
            ("file", f"{D}/c.csv", 0, [], None, "0"),
            ("file", f"{D}/u.csv", 0, [], None, "1"),
            ("users", f"{D}/u.csv", 2, ["u1", "Ann", "a@b", "Oslo", TIME], None, None),
            ("file", f"{D}/p.csv", 0, [], None, "1"),
            ("products", f"{D}/p.csv", 2, ["p1", "Lamp", "home", "1"], None, None),
        ],
        "kind string, source_file string, source_line int, fields array<string>,"
        " problem string, detail string",
    )
    assert_validated(actual, wanted)


def events_of_wave(spark: SparkSession, frame: DataFrame, groups: list[list[Piece]]) -> DataFrame:
    """The events a split_wave frame reads when this thread names `groups` (collected here)."""
    context = spark.sparkContext
    context.setLocalProperty(WAVE_PROPERTY, wave_property(groups))
    try:
        rows = frame.filter("kind = 'events'").select("source_file", "source_line", "fields")
        return spark.createDataFrame(rows.collect(), rows.schema)
    finally:
        context.setLocalProperty(WAVE_PROPERTY, None)  # type: ignore[arg-type]


def wanted_events(spark: SparkSession, path: str, lines: list[str]) -> DataFrame:
    return spark.createDataFrame(
        [(path, number, line.split(",")) for number, line in enumerate(lines, 2)],
        "source_file string, source_line int, fields array<string>",
    )


def test_a_file_probed_and_read_in_groups_keeps_its_order_and_line_numbers(
    spark: SparkSession,
) -> None:
    lines = [f"e{n},u,p,view,1,{TIME}" for n in range(1, 8)]
    local = DROP / "ranged.csv"
    local.write_bytes(("\r\n".join([EVENTS_HEADER, *lines]) + "\r\n").encode())
    source = SourceFile(f"{D}/ranged.csv", T0, local.stat().st_size)
    piece_bytes = 64  # about two lines a range: the CR LF pairs fall on range boundaries
    ranges = ranges_to_probe([source], piece_bytes, first=16, width=2)
    probes = probe_ranges(spark, ranges, tasks=2)  # runs of ranges in two tasks, in order
    assert [found.index for found in probes] == list(range(len(ranges)))
    assert sum(found.lines for found in probes) == 8
    groups = in_groups(pieces_of([source], probes, piece_bytes), piece_bytes)
    assert len(groups) > 2
    split = split_wave(spark, len(groups))
    assert split.rdd.getNumPartitions() == len(groups)
    actual = events_of_wave(spark, split, groups)
    assert_df_equality(actual, wanted_events(spark, source.path, lines), ignore_nullable=True)


def test_one_wave_frame_reads_whichever_groups_its_thread_names(spark: SparkSession) -> None:
    files = []
    for name, first in (("first.csv", 1), ("second.csv", 100), ("third.csv", 200)):
        lines = [f"e{n},u,p,view,1,{TIME}" for n in range(first, first + 3)]
        local = DROP / name
        local.write_text("\n".join([EVENTS_HEADER, *lines]) + "\n")
        size = local.stat().st_size
        files.append((Piece(f"{D}/{name}", T0, 0, size, 1, None, False), lines))
    frame = split_wave(spark, 2)
    first, second, third = files
    # The same frame, two waves of other files: each gives its own groups' rows, in order.
    for wave in ([first, second], [third, first]):
        actual = events_of_wave(spark, frame, [[piece] for piece, _ in wave])
        wanted = [wanted_events(spark, piece.path, lines) for piece, lines in wave]
        assert_df_equality(actual, wanted[0].union(wanted[1]), ignore_nullable=True)


def test_parse_pieces_splits_and_validates_every_kind(spark: SparkSession) -> None:
    modified = utc(2026, 11, 22, 10, 5)
    events = (
        f"{EVENTS_HEADER}\n"
        'uq-1,u1,p1,view,"12.50,2026-11-22 10:00:00\n'
        "e1,\u00a0u1\u3000,p1,view,12.50,2026-11-22T11:00:00+01:00\n"
        "e2,u1,p1,purchase,-3,2026-11-22 10:00:00\n"
    )
    users = f"{USERS_HEADER}\n u1 ,\u2003Ann\u2003,ann@example.com,,2026-01-02 03:04:05\n"
    products = f"{PRODUCTS_HEADER}\np1,Lamp,home,1.005\np2,Desk,,3\n"
    files = drop(
        spark,
        (f"{D}/e.csv", modified, events),
        (f"{D}/u.csv", modified, users),
        (f"{D}/p.csv", modified, products),
    )
    at = {"file_modified": modified}
    wanted = expected(
        spark,
        row("file", 0, detail="3", source_file=f"{D}/e.csv", **at),
        row("events", 2, reason="malformed_row", detail="a quote opened on this line is never"
            " closed", raw='uq-1,u1,p1,view,"12.50,2026-11-22 10:00:00',
            source_file=f"{D}/e.csv", **at),
        row("events", 3, event_id="e1", user_id="u1", product_id="p1", event_type="view",
            price=Decimal("12.50"), event_time=utc(2026, 11, 22, 10),
            source_file=f"{D}/e.csv", **at),
        row("events", 4, reason="bad_price", raw="e2,u1,p1,purchase,-3,2026-11-22 10:00:00",
            source_file=f"{D}/e.csv", **at),
        row("file", 0, detail="1", source_file=f"{D}/u.csv", **at),
        row("users", 2, user_id="u1", name="Ann", email="ann@example.com", city="",
            registered_at=utc(2026, 1, 2, 3, 4, 5), source_file=f"{D}/u.csv", **at),
        row("file", 0, detail="2", source_file=f"{D}/p.csv", **at),
        row("products", 2, product_id="p1", name="Lamp", category="home",
            list_price=Decimal("1.01"), source_file=f"{D}/p.csv", **at),
        row("products", 3, reason="bad_category", raw="p2,Desk,,3",
            source_file=f"{D}/p.csv", **at),
    )  # fmt: skip
    assert_validated(files.transform(parse_pieces), wanted)


OLD = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
NEW = OLD + timedelta(minutes=5)


def test_prepare_takes_what_spark_gives(spark: SparkSession, tmp_path: Path) -> None:
    """The real Arrow form of validated rows (types, time zone) goes through prepare."""
    header = "event_id,user_id,product_id,event_type,price,event_time"
    contents = [
        ("b.csv", OLD, f"{header}\ne1,u1,p1,view,2.50,2026-01-01T10:00:30Z\n"),
        ("a.csv", NEW, f"{header}\ne1,u9,p9,view,9.99,2026-01-01T10:00:00Z\n"),
        ("c.csv", NEW, f"{header}\n"),
    ]
    planned = []
    for name, modified, text in contents:
        (tmp_path / name).write_text(text)
        path = f"file:{tmp_path / name}"
        planned.append(astuple(Piece(path, modified, 0, len(text), 1, None, True)))
    batch = prepare(spark.createDataFrame(planned, PIECES).transform(parse_pieces).toArrow())
    assert batch.records_per_file == {
        (f"file:{tmp_path / 'b.csv'}", datetime(2026, 1, 1, 9, 0)): 1,
        (f"file:{tmp_path / 'a.csv'}", datetime(2026, 1, 1, 9, 5)): 1,
        (f"file:{tmp_path / 'c.csv'}", datetime(2026, 1, 1, 9, 5)): 0,
    }
    assert batch.events.select(["event_id", "user_id", "source_file"]).to_pylist() == [
        {"event_id": "e1", "user_id": "u1", "source_file": f"file:{tmp_path / 'b.csv'}"}
    ]
    assert minute_totals(batch.events) == [
        MinuteTotal(datetime(2026, 1, 1, 10, 0), "view", 1, Decimal("2.50"))
    ]


# HotSpot compiles no method of more than 8,000 bytes of bytecode (HugeMethodLimit, with
# DontCompileHugeMethods on by default): such a method runs interpreted for ever. The
# validation's whole-stage code is one method per row, close to that size; past it, reading a
# catch-up's backlog took up to twice the JVM's CPU (benchmarks/BENCHMARKS.md).
HUGE_METHOD_BYTES = 8_000


def largest_generated_method(frame: DataFrame) -> int:
    """The bytecode size of the largest method Spark generates for the frame's plan."""
    subtrees = frame._jdf.queryExecution().debug().codegenToSeq()
    return max(int(subtrees.apply(i)._3().maxMethodCodeSize()) for i in range(subtrees.size()))


def test_the_validation_compiles_to_methods_the_jit_compiles(spark: SparkSession) -> None:
    # The executors' frame; a live batch split on the driver is validated over a local
    # relation, which Spark evaluates without generating code.
    size = largest_generated_method(split_wave(spark, 2).transform(validate))
    assert 0 < size <= HUGE_METHOD_BYTES, size
