"""Hostile files never stop the stream: each gets its documented outcome."""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from localmysql import AppAccount
from tests import dbread
from tests.helpers import count, generate, run_stream
from tests.oracle import expected_for

pytestmark = pytest.mark.integration

HEADER = "event_id,user_id,product_id,event_type,price,event_time"
T = "2024-05-01T10:00:00Z"


def row(event_id: str, *, user: str = "u1", price: str = "1.00", time: str = T) -> str:
    return f"{event_id},{user},p1,view,{price},{time}"


HOSTILE: dict[str, bytes] = {
    "a_empty.csv": b"",
    "b_header_only.csv": HEADER.encode(),
    "c_wrong_header.csv": f"id,user,product,type,price,time\n{row('c1')}\n{row('c2')}\n".encode(),
    "d_reordered_header.csv": (
        f"user_id,event_id,product_id,event_type,price,event_time\n{row('d1')}\n".encode()
    ),
    "e_field_counts.csv": f"{HEADER}\n{row('e1')},extra\ne2,u1,p1,view,1\n{row('e3')}\n".encode(),
    "f_bom_crlf.csv": f"\ufeff{HEADER}\r\n{row('f1')}\r\n\r\n{row('f2')}".encode(),
    "g_quoted.csv": (
        f'{HEADER}\n"g,1","say ""hi""","multi\nline",view,"2.50",{T}\n'
        f'"g2"," u2 ",p1,"purchase",3,"{T}"\n'
    ).encode(),
    "h_long_fields.csv": (
        f"{HEADER}\n{row('h' * 100_000)}\n{row('h2', user='u' * 65)}\n{row('h' * 64)}\n"
    ).encode(),
    "j_reasons.csv": "\n".join(
        [
            HEADER,
            row(" "),
            row("j1", user=""),
            "j2,u1, ,view,1,2024-05-01T10:00:00Z",
            "j3,u1,p1,click,1,2024-05-01T10:00:00Z",
            row("j4", price="-5"),
            row("j5", price="1e2"),
            row("j6", price="100000000"),
            row("j7", time="2024-13-01T00:00:00"),
            row("j8", time="01/05/2024 10:00"),
            "j9,u1,p1",
        ]
    ).encode(),
    "k_offsets.csv": "\n".join(
        [
            HEADER,
            row("k1", time="2024-05-01T10:00:00+02:00", price="9.995"),
            row("k2", time="2024-05-01 23:30:00.5-05:00"),
            row("k3", time="2024-05-01T10:00:00.123456789"),
        ]
    ).encode(),
    # Not for the stream: other suffixes and names a producer writes before its rename.
    "notes.txt": f"{HEADER}\n{row('ignored1')}\n".encode(),
    ".m_in_progress.csv.tmp": f"{HEADER}\n{row('ignored2')}\n".encode(),
    "_n_in_progress.csv": f"{HEADER}\n{row('ignored3')}\n".encode(),
    "o_upload.csv.part": f"{HEADER}\n{row('ignored4')}\n".encode(),
}
NOT_UTF8 = "l_not_utf8.csv"


def test_hostile_files_get_their_documented_outcome(
    spark: SparkSession, app_env: dict[str, str], mysql_account: AppAccount, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    generated = generate(app_env, drop, 1, 4)
    shutil.copy(generated[0], drop / "z_redropped_copy.csv")  # the same events again
    for name, content in HOSTILE.items():
        (drop / name).write_bytes(content)
    (drop / NOT_UTF8).write_bytes(
        f"{HEADER}\n".encode()
        + b"l1,u\xff\xfe,p1,view,1,2024-05-01T10:00:00Z\n"
        + row("l2").encode()
    )

    run_stream(spark, mysql_account, drop, tmp_path / "checkpoint", files=100)

    csv_files = sorted(
        [drop / n for n in HOSTILE if n.endswith(".csv") and n[0] not in "._"]
        + [*generated, drop / "z_redropped_copy.csv"]
    )
    expected = expected_for(csv_files)
    expected.events["l2"] = (
        "u1",
        "p1",
        "view",
        Decimal("1.00"),
        datetime(2024, 5, 1, 10),
        NOT_UTF8,
        3,
    )
    assert dbread.events(mysql_account) == expected.events
    assert dbread.rejected(mysql_account) == sorted(
        [*expected.rejected, (NOT_UTF8, "malformed_row", 2)]
    )

    # The documented outcomes, spelled out.
    events = dbread.events(mysql_account)
    assert not any(key.startswith("ignored") for key in events)
    assert events["g,1"][:2] == ('say "hi"', "multi\nline")
    assert events["g2"][0] == "u2"
    assert {"f1", "f2", "e3", "h" * 64} <= set(events)
    assert "e1" not in events and "e2" not in events
    assert events["k1"][3:5] == (Decimal("10.00"), datetime(2024, 5, 1, 8, 0))
    assert events["k2"][4] == datetime(2024, 5, 2, 4, 30, 0, 500000)
    assert events["k3"][4] == datetime(2024, 5, 1, 10, 0, 0, 123456)
    reasons = dict(
        dbread.query(mysql_account, "SELECT reason, COUNT(*) FROM events_rejected GROUP BY reason")
    )
    null_users = sum(1 for line in generated[0].read_text().splitlines() if ",," in line)
    assert reasons == {
        "bad_header": 3,
        "malformed_row": 4,
        "missing_event_id": 2,
        "missing_user_id": 2 + 2 * null_users,  # j1, h2, and the generated file's, twice
        "missing_product_id": 1,
        "bad_event_type": 1,
        "bad_price": 3,
        "bad_event_time": 2,
    }
    detail, raw = dbread.query(
        mysql_account,
        "SELECT detail, raw_line FROM events_rejected WHERE source_file LIKE %s",
        (f"%{NOT_UTF8}",),
    )[0]
    assert detail == "not valid UTF-8" and "\ufffd" in raw
    (long_raw,) = dbread.query(
        mysql_account,
        "SELECT raw_line FROM events_rejected WHERE reason = 'missing_event_id'"
        " AND source_file LIKE %s",
        ("%h_long_fields.csv",),
    )[0]
    assert 65_536 < len(long_raw) < 65_600 and long_raw.endswith("more characters]")
    read, written, duplicates, rejected = dbread.totals(mysql_account)
    assert duplicates == 21 - null_users == expected.duplicates
    assert read == written + duplicates + rejected
    assert count(mysql_account, "events_staging") == 0
    # Shown with `pytest -rP`: the figures behind docs/RELIABILITY.md.
    print(
        f"hostile files: {len(csv_files) + 1} read, {len(HOSTILE) - len(csv_files) + 2} ignored;"
        f" {read} rows read, {written} written, {duplicates} duplicates, {rejected} rejected"
        f" ({len(reasons)} reasons); stream never stopped"
    )
