"""Generator -> drop folder -> Spark stream -> the sink, against private servers of each kind."""

from __future__ import annotations

import os
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from generator import cli as generator_cli
from localmysql import free_port
from tests.helpers import assert_sink_matches, generate, run_stream, spark_submit
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time\n"


def _drop(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_stream_equals_oracle(spark: SparkSession, sink: SinkUnderTest, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    assert generator_cli.main(
        ["--output-dir", str(drop), "--files", "4", "--interval", "0", "--seed", "11",
         "--null-user-rate", "0.2"]
    ) == 0  # fmt: skip
    generated = sorted(drop.glob("*.csv"))
    first_id = generated[0].read_text().splitlines()[1].split(",")[0]
    extra = _drop(
        drop / "extra.csv",
        HEADER
        + f"{first_id},u-dup,p,view,1,2024-01-01T00:00:00Z\n"  # a duplicate of an earlier file
        + "x1,u1,p1,view,5.555,2024-05-01T10:00:00+02:00\n"
        + "x1,u2,p2,purchase,1,2024-05-01T10:00:00Z\n"  # a duplicate within the file
        + "x2,,p1,view,1,2024-05-01T10:00:00Z\n"
        + "x3,u1,p1,buy,1,2024-05-01T10:00:00Z\n",
        time.time() + 5,
    )
    run_stream(spark, sink, drop, tmp_path / "checkpoint")
    assert_sink_matches(sink, [*generated, extra])
    assert sink.events()["x1"][3:5] == (Decimal("5.56"), datetime(2024, 5, 1, 8, 0))


def test_arrival_order_not_name_order_decides_the_first_row(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop, now = tmp_path / "drop", time.time()
    # "b" arrived first (older modification time) although "a" sorts first by name.
    later = _drop(drop / "a.csv", HEADER + "dup,from-a,p,view,1,2024-01-01T00:00:00Z\n", now)
    earlier = _drop(drop / "b.csv", HEADER + "dup,from-b,p,view,1,2024-01-01T00:00:00Z\n", now - 60)
    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=2)
    assert sink.events()["dup"][0] == "from-b"
    assert_sink_matches(sink, [later, earlier])


def test_a_file_with_an_old_modification_time_is_read(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop, now = tmp_path / "drop", time.time()
    new = _drop(drop / "new.csv", HEADER + "n1,u,p,view,1,2024-01-01T00:00:00Z\n", now)
    run_stream(spark, sink, drop, tmp_path / "checkpoint")
    # Copied in later with `cp -p`: modified 10 days before the file already processed.
    old = _drop(drop / "old.csv", HEADER + "o1,u,p,view,1,2024-01-01T00:00:00Z\n", now - 864_000)
    run_stream(spark, sink, drop, tmp_path / "checkpoint")
    assert set(sink.events()) == {"n1", "o1"}
    assert_sink_matches(sink, [new, old])


def test_unclosed_quote_loses_only_its_own_line(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    valid = "".join(f"v{i},u1,p1,view,1.00,2026-11-22 10:00:00\n" for i in range(5))
    path = _drop(
        tmp_path / "drop" / "quote.csv",
        HEADER + 'uq-1,u1,p1,view,"12.50,2026-11-22 10:00:00\n' + valid,
    )
    run_stream(spark, sink, tmp_path / "drop", tmp_path / "checkpoint")
    assert sorted(sink.events()) == [f"v{i}" for i in range(5)]
    assert sink.rejected() == [("quote.csv", "malformed_row", 2)]
    assert sink.totals() == (6, 5, 0, 1)
    assert_sink_matches(sink, [path])


def test_unicode_whitespace_is_trimmed(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    path = _drop(
        tmp_path / "drop" / "spaces.csv",
        HEADER
        + "nb1,\u00a0,p1,view,1,2024-01-01T00:00:00Z\n"  # a no-break space is no user
        + "\u3000ideo\u3000,u1,p1,view,1,2024-01-01T00:00:00Z\n",
    )
    run_stream(spark, sink, tmp_path / "drop", tmp_path / "checkpoint")
    assert list(sink.events()) == ["ideo"]
    assert sink.rejected() == [("spaces.csv", "missing_user_id", 2)]
    assert_sink_matches(sink, [path])


def test_dimensions_upsert_placeholders_and_completion(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop, now = tmp_path / "drop", time.time()
    users = "user_id,name,email,city,registered_at\n"
    products = "product_id,name,category,list_price\n"
    files = [
        # An event names u1 and p1 before either has arrived: placeholders.
        _drop(drop / "e1.csv", HEADER + "e1,u1,p1,view,2.50,2024-01-01T00:00:00Z\n", now - 30),
        _drop(drop / "u1.csv", users + "u1,Ann,ann@x.io,Rome,2023-01-01T00:00:00Z\n", now - 20),
        # A later arrival of u1 wins; an older arrival processed after it does not.
        _drop(
            drop / "u2.csv",
            users + "u1,Ann B,annb@x.io,Oslo,2023-01-01T00:00:00Z\n"
            "u2,Bo,bo@x.io,,2023-02-01T00:00:00+01:00\nu3,,bad,Rome,x\n",
            now - 10,
        ),
        _drop(drop / "p.csv", products + " p1 ,Pen,Office,2.499\np2,Cup,Home,-1\n", now),
    ]
    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=1)
    late = _drop(drop / "u0.csv", users + "u1,Old,old@x.io,Paris,2020-01-01T00:00:00Z\n", now - 40)
    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=1)
    expected = assert_sink_matches(sink, [*files, late])
    assert expected.users["u1"] == ("Ann B", "annb@x.io", "Oslo", datetime(2023, 1, 1))
    assert sink.rejected() == sorted([("p.csv", "bad_list_price", 3), ("u2.csv", "bad_name", 4)])


def test_real_commands_end_to_end(sink: SinkUnderTest, tmp_path: Path) -> None:
    env = sink.env()
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    files = generate(env, drop, 3, seed=3)
    assert len(files) == 3
    args = (*sink.args, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint))
    first = spark_submit(env, *args, "--available-now")
    assert first.returncode == 0, first.stdout[-3000:]
    assert "batch 0:" in first.stdout, first.stdout[-5000:]
    password = env["MYSQL_PASSWORD" if sink.kind == "mysql" else "PGPASSWORD"]
    assert password not in first.stdout
    assert_sink_matches(sink, files)

    # A restart on the same checkpoint finds nothing new and changes nothing.
    again = spark_submit(env, *args, "--available-now")
    assert again.returncode == 0, again.stdout[-3000:]
    assert_sink_matches(sink, files)


def test_bad_flag_is_one_clear_error(mysql: SinkUnderTest) -> None:
    result = spark_submit(mysql.env(), "--max-files-per-trigger", "zero")
    assert result.returncode == 2
    assert "--max-files-per-trigger" in result.stdout
    assert "Traceback" not in result.stdout and "Exception in thread" not in result.stdout


def test_unreachable_database_is_one_clear_error(sink: SinkUnderTest, tmp_path: Path) -> None:
    port = "MYSQL_PORT" if sink.kind == "mysql" else "PGPORT"
    env = {**sink.env(), port: str(free_port())}
    result = spark_submit(
        env, *sink.args, "--input-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")
    )
    assert result.returncode == 3, result.stdout[-3000:]
    assert "cannot use" in result.stdout
    assert "Traceback" not in result.stdout and "Exception in thread" not in result.stdout
