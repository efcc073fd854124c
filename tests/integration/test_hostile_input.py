"""Hostile files never stop the stream: each gets its documented outcome, on both sinks.

The files arrive in an order that disagrees with their names (modification times set with
os.utime), a few per micro-batch, and the sink must equal the oracle's reading of them.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.helpers import assert_sink_matches, generate, run_stream
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time"
USERS = "user_id,name,email,city,registered_at"
PRODUCTS = "product_id,name,category,list_price"
T = "2024-05-01T10:00:00Z"
FILES_PER_TRIGGER = 3


def row(event_id: str, *, user: str = "u1", price: str = "1.00", time: str = T) -> str:
    return f"{event_id},{user},p1,view,{price},{time}"


def lines(*items: str) -> bytes:
    """Lines, each ended with a newline."""
    return "".join(item + "\n" for item in items).encode()


# In arrival order (each file one second after the one before it), which is not name order.
ARRIVING: list[tuple[str, bytes]] = [
    # ord1: "order_b" arrives first although "order_a" sorts first; different batches.
    ("order_b.csv", lines(HEADER, row("ord1", user="from-b"))),
    ("empty.csv", b""),
    ("header_only.csv", HEADER.encode()),  # not even a newline
    ("wrong_header.csv", lines("id,user,product,type,price,time", row("c1"), row("c2"))),
    (
        "reordered_header.csv",
        lines("user_id,event_id,product_id,event_type,price,event_time", row("d1")),
    ),
    ("order_a.csv", lines(HEADER, row("ord1", user="from-a"))),
    ("field_counts.csv", lines(HEADER, f"{row('e1')},extra", "e2,u1,p1,view,1", row("e3"))),
    # ord2: "order_d" arrives before "order_c", in the same batch.
    ("order_d.csv", lines(HEADER, row("ord2", user="from-d"))),
    ("order_c.csv", lines(HEADER, row("ord2", user="from-c"))),
    # A byte-order mark, CRLF, a blank line and no final newline.
    ("bom_crlf.csv", f"\ufeff{HEADER}\r\n{row('f1')}\r\n\r\n{row('f2')}".encode()),
    (
        "quoted.csv",
        lines(
            HEADER,
            f'"g,1","say ""hi""","multi\nline",view,"2.50",{T}',  # a newline inside quotes
            f'"g2"," u2 ",p1,"purchase",3,"{T}"',
        ),
    ),
    ("long_fields.csv", lines(HEADER, row("h" * 100_000), row("h2", user="u" * 65), row("h" * 64))),
    (
        "reasons.csv",
        lines(
            HEADER,
            row(" "),
            row("j1", user=""),
            f"j2,u1, ,view,1,{T}",
            f"j3,u1,p1,click,1,{T}",
            row("j4", price="-5"),
            row("j5", price="1e2"),
            row("j6", price="100000000"),
            row("j7", time="2024-13-01T00:00:00"),
            row("j8", time="01/05/2024 10:00"),
            "j9,u1,p1",
        ),
    ),
    (
        "offsets.csv",
        lines(
            HEADER,
            row("k1", time="2024-05-01T10:00:00+02:00", price="9.995"),
            row("k2", time="2024-05-01 23:30:00.5-05:00"),
            row("k3", time="2024-05-01T10:00:00.123456789"),
        ),
    ),
    # Line 3 opens a quote that no later line closes: only that line is lost.
    (
        "unclosed_quote.csv",
        lines(
            HEADER,
            row("uq0"),
            f'uq1,u1,p1,view,"12.50,{T}',
            row("uq2"),
            row("uq3"),
        ),
    ),
    # Invalid UTF-8 in one line: that line is malformed, the next one is read.
    (
        "not_utf8.csv",
        f"{HEADER}\n".encode()
        + b"l1,u\xff\xfe,p1,view,1,"
        + T.encode()
        + b"\n"
        + row("l2").encode(),
    ),
    # A no-break space is no user; ideographic spaces around an id are trimmed.
    ("unicode_spaces.csv", lines(HEADER, row("nb1", user="\u00a0"), row("\u3000ideo\u3000"))),
    (
        "users_bad_lines.csv",
        lines(
            USERS,
            "uo1,Early,early@x.io,Rome,2023-01-01T00:00:00Z",
            "ub1,,b1@x.io,Rome,2023-01-01T00:00:00Z",
            "ub2,Bo,not-an-email,Oslo,2023-01-01T00:00:00Z",
            "ub3,Cy,cy@x.io,Oslo,yesterday",
            "ub4,Di,di@x.io",
            " ,Ed,ed@x.io,Oslo,2023-01-01T00:00:00Z",
            "u2,Bo,bo@x.io,,2023-02-01T00:00:00+01:00",
        ),
    ),
    (
        "products_bad_lines.csv",
        lines(
            PRODUCTS,
            " p1 ,Pen,Office,2.499",
            "pb1,Cup,Home,-1",
            "pb2,Mug,,3",
            "pb3,Bowl,Home",
            "pb4,,Home,1",
        ),
    ),
    # uo1 again, later: this arrival wins although its name sorts before the first one's.
    ("users_0_newer.csv", lines(USERS, "uo1,Late,late@x.io,Paris,2024-01-01T00:00:00Z")),
]
# Not for the stream: other suffixes and names a producer writes before its rename.
IGNORED: dict[str, bytes] = {
    "notes.txt": lines(HEADER, row("ignored1")),
    ".m_in_progress.csv.tmp": lines(HEADER, row("ignored2")),
    "_n_in_progress.csv": lines(HEADER, row("ignored3")),
    "o_upload.csv.part": lines(HEADER, row("ignored4")),
    ".hidden.csv": lines(HEADER, row("ignored5")),
}


def drop_corpus(env: dict[str, str], drop: Path) -> tuple[list[Path], Path]:
    """Every hostile file, arriving one second apart; returns the CSV files and the generated
    one (a generated file first, and the same file again under a name that sorts first)."""
    (generated,) = generate(env, drop, 1, 4)
    copy = drop / "a_redropped_copy.csv"
    shutil.copy(generated, copy)
    arriving = [generated, copy]
    for name, content in ARRIVING:
        path = drop / name
        path.write_bytes(content)
        arriving.append(path)
    for name, content in IGNORED.items():
        (drop / name).write_bytes(content)
    start = time.time() - 10 * len(arriving)
    for index, path in enumerate(arriving):
        os.utime(path, (start + index, start + index))
    return arriving, generated


def test_hostile_files_get_their_documented_outcome(
    spark: SparkSession, sink: SinkUnderTest, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    csv_files, generated = drop_corpus(sink.env(), drop)

    run_stream(spark, sink, drop, tmp_path / "checkpoint", files=FILES_PER_TRIGGER)

    # Every CSV file is recorded, those without a data line too, and counted by its batch.
    files = {
        path.rsplit("/", 1)[-1]: (int(records), query_id, batch_id)
        for path, records, query_id, batch_id in sink.query(
            "SELECT source_file, records, query_id, batch_id FROM ingest_files"
        )
    }
    assert set(files) == {path.name for path in csv_files}
    assert files["empty.csv"][0] == files["header_only.csv"][0] == 0
    assert files["order_b.csv"][1:] != files["order_a.csv"][1:]  # ord1: across batches
    assert files["order_d.csv"][1:] == files["order_c.csv"][1:]  # ord2: within one
    assert files["bom_crlf.csv"][0] == 2
    per_batch = dict(
        ((query_id, batch_id), count)
        for query_id, batch_id, count in sink.query(
            "SELECT query_id, batch_id, files FROM ingest_batches"
        )
    )
    assert sum(per_batch.values()) == len(csv_files)
    assert max(per_batch.values()) <= FILES_PER_TRIGGER

    expected = assert_sink_matches(sink, csv_files)

    # The documented outcomes, spelled out (the oracle could share a misreading).
    events = sink.events()
    assert not any(key.startswith("ignored") for key in events)
    assert events["ord1"][0] == "from-b" and events["ord1"][5] == "order_b.csv"
    assert events["ord2"][0] == "from-d"
    assert events["g,1"][:2] == ('say "hi"', "multi\nline")
    assert events["g2"][0] == "u2"
    assert {"f1", "f2", "e3", "h" * 64, "l2", "uq0", "uq2", "uq3", "ideo"} <= set(events)
    assert not {"e1", "e2", "uq1", "nb1", "l1"} & set(events)
    assert events["f2"][6] == 4  # after the blank line
    assert events["g2"][6] == 4  # the quoted newline took line 3
    assert events["k1"][3:5] == (Decimal("10.00"), datetime(2024, 5, 1, 8, 0))
    assert events["k2"][4] == datetime(2024, 5, 2, 4, 30, 0, 500000)
    assert events["k3"][4] == datetime(2024, 5, 1, 10, 0, 0, 123456)
    assert expected.users["uo1"] == ("Late", "late@x.io", "Paris", datetime(2024, 1, 1))
    assert expected.users["u2"] == ("Bo", "bo@x.io", "", datetime(2023, 1, 31, 23))
    assert expected.products["p1"] == ("Pen", "Office", Decimal("2.50"))

    rejected = sink.rejected()
    assert ("unclosed_quote.csv", "malformed_row", 3) in rejected
    assert ("unicode_spaces.csv", "missing_user_id", 2) in rejected
    assert ("not_utf8.csv", "malformed_row", 2) in rejected
    reasons = dict(sink.query("SELECT reason, COUNT(*) FROM events_rejected GROUP BY reason"))
    null_users = sum(1 for line in generated.read_text().splitlines() if ",," in line)
    assert reasons == {
        "bad_header": 3,
        "malformed_row": 7,  # e1, e2, j9, uq1, l1, ub4, pb3
        "missing_event_id": 2,
        # j1, h2, nb1, the users file's blank id, and the generated file's, twice
        "missing_user_id": 4 + 2 * null_users,
        "missing_product_id": 1,
        "bad_event_type": 1,
        "bad_price": 3,
        "bad_event_time": 2,
        "bad_name": 2,
        "bad_email": 1,
        "bad_registered_at": 1,
        "bad_category": 1,
        "bad_list_price": 1,
    }
    detail, raw = sink.query(
        "SELECT detail, raw_line FROM events_rejected WHERE source_file LIKE %s",
        ("%not_utf8.csv",),
    )[0]
    assert detail == "not valid UTF-8" and "\ufffd" in raw
    (long_raw,) = sink.query(
        "SELECT raw_line FROM events_rejected WHERE reason = 'missing_event_id'"
        " AND source_file LIKE %s",
        ("%long_fields.csv",),
    )[0]
    assert 65_536 < len(long_raw) < 65_600 and long_raw.endswith("more characters]")

    read, written, duplicates, rejected_rows = sink.totals()
    assert duplicates == 21 - null_users + 2 == expected.duplicates  # the copy, ord1, ord2
    # Shown with `pytest -rP`: the figures behind docs/RELIABILITY.md.
    print(
        f"{sink.kind} hostile files: {len(csv_files)} read in {len(per_batch)} batches,"
        f" {len(IGNORED)} ignored; {read} rows read, {written} written, {duplicates} duplicates,"
        f" {rejected_rows} rejected ({len(reasons)} reasons); stream never stopped"
    )
