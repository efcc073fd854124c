"""The dashboard without a database or a server: snapshot shaping, queries on a fake connection,
the poller's cache, the page's escaping rule and the command line's argument errors (its HTTP
server and processes: tests/integration/test_dashboard_http.py, test_dashboard_process.py)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import mysql.connector
import pytest

from spark_app.commands.dashboard import cli, snapshot
from spark_app.commands.dashboard.poller import Poller, SnapshotStore
from spark_app.commands.dashboard.queries import Fetcher, Rollup
from spark_app.commands.dashboard.server import load_static
from spark_app.commands.dashboard.snapshot import Fetched, build_snapshot
from spark_app.commands.health import Limits
from spark_app.common.database import mysql_from_env
from tests.dashboard_samples import NOW, batch, fetched

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "spark_app" / "commands" / "dashboard" / "static"
SETTINGS = mysql_from_env({"MYSQL_DATABASE": "shop", "MYSQL_USER": "reader"})


# --- snapshot shaping (pure) -----------------------------------------------------------------


def test_totals_are_plain_integers() -> None:
    shot = build_snapshot(fetched(), NOW)
    assert shot["totals"] == {
        "batches": 3,
        "files": 3,
        "rows_read": 63,
        "rows_written": 57,
        "rows_duplicate": 2,
        "rows_rejected": 4,
        "retries": 1,
    }
    assert all(type(value) is int for value in shot["totals"].values())
    assert shot["rate"] == {"window_s": 60, "batches": 3, "rows_per_second": 1.1}
    json.dumps(shot, allow_nan=False)


def test_series_is_oldest_first_with_freshness() -> None:
    shot = build_snapshot(fetched(), NOW)
    series = shot["series"]
    assert [point["committed_at"] for point in series] == [
        "2025-03-01T12:29:30.000Z",
        "2025-03-01T12:29:50.000Z",
        "2025-03-01T12:30:10.000Z",
    ]
    assert [point["freshness_s"] for point in series] == [None, 1.0, 3.0]
    assert series[-1] == {
        "committed_at": "2025-03-01T12:30:10.000Z",
        "rows_read": 21,
        "rows_written": 20,
        "rows_rejected": 1,
        "rows_per_second": 250.5,
        "freshness_s": 3.0,
        "stage_ms": 120,
        "commit_ms": 30,
        "total_ms": 160,
        "retries": 0,
        "files": 1,
    }
    # p50/p95 over the batches that have a file age (numpy's linear interpolation).
    assert shot["freshness"] == {"batches": 2, "p50_s": 2.0, "p95_s": 2.9}


def test_series_and_freshness_windows() -> None:
    rows = [batch(index, 1, age=float(index)) for index in range(200)]
    shot = build_snapshot(fetched(batches=rows), NOW)
    assert len(shot["series"]) == snapshot.SERIES_BATCHES
    assert shot["series"][-1]["freshness_s"] == 0.0
    assert shot["freshness"]["batches"] == snapshot.FRESHNESS_BATCHES
    assert shot["freshness"]["p50_s"] == 24.5


def test_health_verdict_from_the_latest_batches() -> None:
    shot = build_snapshot(fetched(), NOW)
    assert shot["health"] == {
        "healthy": True,
        "reason": "last batch 5 s ago, rejected 6.3 % of the last 3 batches",
        "last_commit_s_ago": 5.0,
        "waiting_files": None,
        "run": {"run_id": "20250301_120000", "state": "running", "recorded_s_ago": 10.0},
    }
    stale = build_snapshot(fetched(batches=[batch(900, 10)]), NOW, Limits(max_age=300.0))
    assert stale["health"]["healthy"] is False
    assert stale["health"]["reason"] == "last batch committed 900 s ago (max 300 s)"
    rejecting = build_snapshot(fetched(batches=[batch(1, 10, rejected=5)]), NOW)
    assert rejecting["health"]["healthy"] is False
    assert "rejected 50.0 % of rows" in rejecting["health"]["reason"]
    idle = build_snapshot(fetched(batches=[batch(900, 10)], waiting=0), NOW)
    assert idle["health"]["healthy"] is True
    assert idle["health"]["reason"].startswith("idle, ")


def test_health_needs_a_live_run() -> None:
    never = build_snapshot(fetched(last_run=None), NOW)["health"]
    assert never["healthy"] is False and "never run" in never["reason"]
    finished = ("20250301_120000", "finished", NOW - timedelta(seconds=10))
    ended = build_snapshot(fetched(last_run=finished), NOW)["health"]
    assert ended["healthy"] is False and "not running" in ended["reason"]
    silent = ("20250301_120000", "running", NOW - timedelta(minutes=10))
    assert build_snapshot(fetched(last_run=silent), NOW)["health"]["healthy"] is False
    allowed = build_snapshot(fetched(last_run=None), NOW, Limits(allow_stopped=True))["health"]
    assert allowed["healthy"] is True


def test_rejects_by_reason_and_latest_rows_cut() -> None:
    long_line = "x" * (snapshot.RAW_LINE_CHARS + 1)
    latest = [
        ("bad_price", "not a decimal", "/in/a.csv", 7, "e1,u1,p1,view,abc,2025", NOW),
        ("malformed_row", None, "/in/b.csv", 3, long_line, NOW - timedelta(seconds=1)),
    ]
    shot = build_snapshot(fetched(latest_rejects=latest), NOW)
    rejects = shot["rejects"]
    assert rejects["by_reason"] == [
        {"reason": "missing_user_id", "rows": 3},
        {"reason": "bad_price", "rows": 1},
    ]
    assert rejects["latest"][0] == {
        "reason": "bad_price",
        "detail": "not a decimal",
        "source_file": "/in/a.csv",
        "source_line": 7,
        "raw_line": "e1,u1,p1,view,abc,2025",
        "raw_line_truncated": False,
        "rejected_at": "2025-03-01T12:30:15.000Z",
    }
    assert rejects["latest"][1]["raw_line"] == "x" * snapshot.RAW_LINE_CHARS
    assert rejects["latest"][1]["raw_line_truncated"] is True


def test_runs_are_json_values() -> None:
    row = (
        "20250301_120000",
        NOW - timedelta(minutes=30),
        NOW,
        "running",
        12,
        Decimal("1800.250"),
        252,
        Decimal("8.4"),
        Decimal("0.952381"),
        0,
        0,
        Decimal("35.50"),
        None,
    )
    (run,) = build_snapshot(fetched(runs=[row]), NOW)["runs"]
    assert run["run_id"] == "20250301_120000"
    assert run["started_at"] == "2025-03-01T12:00:15.000Z"
    assert run["quality_pass_rate"] == 0.952381
    assert run["memory_peak_mb"] is None
    assert set(run) == set(snapshot.RUN_COLUMNS)


def test_business_minutes_and_funnel() -> None:
    minute = NOW.replace(second=0)
    minutes = [
        (minute, "view", 10, Decimal("100.00")),
        (minute, "add_to_cart", 4, Decimal("40.00")),
        (minute, "purchase", 1, Decimal("9.99")),
        (minute - timedelta(minutes=1), "view", 10, Decimal("5.00")),
        (minute - timedelta(minutes=90), "view", 1000, Decimal("1.00")),  # outside the hour
    ]
    totals = [("view", Decimal(400)), ("add_to_cart", Decimal(100)), ("purchase", Decimal(10))]
    business = build_snapshot(fetched(minutes=minutes, type_totals=totals), NOW)["business"]
    assert len(business["minutes"]) == snapshot.BUSINESS_MINUTES
    assert business["minutes"][-1] == "2025-03-01T12:30:00.000Z"
    assert business["minutes"][0] == "2025-03-01T11:31:00.000Z"
    assert business["event_types"] == ["view", "add_to_cart", "remove_from_cart", "purchase"]
    assert business["events"]["view"][-2:] == [10, 10]
    assert sum(business["events"]["view"]) == 20
    assert business["price_total"][-1] == 149.99
    assert business["purchase_total"][-1] == 9.99
    assert business["funnel"]["last_hour"] == {
        "view": 20,
        "add_to_cart": 4,
        "purchase": 1,
        "view_to_cart_pct": 20.0,
        "cart_to_purchase_pct": 25.0,
        "view_to_purchase_pct": 5.0,
    }
    assert business["funnel"]["total"]["view_to_purchase_pct"] == 2.5


def test_missing_tables_give_null_parts() -> None:
    shot = build_snapshot(Fetched(), NOW)
    for part in ("totals", "rate", "freshness", "series", "rejects", "runs", "business"):
        assert shot[part] is None, part
    assert shot["health"]["healthy"] is False
    assert shot["health"]["reason"].startswith("the stream has never run")
    no_minutes = build_snapshot(fetched(minutes=None, type_totals=None), NOW)
    assert no_minutes["business"] is None and no_minutes["totals"] is not None


# --- queries on a fake connection ------------------------------------------------------------


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.result: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.executed.append(sql)
        table = re.search(r"FROM (\w+)", sql)
        assert table is not None
        if table.group(1) in self.connection.missing:
            raise mysql.connector.errors.ProgrammingError(msg="no such table", errno=1146)
        if self.connection.broken:
            raise mysql.connector.errors.OperationalError(msg="Lost connection", errno=2013)
        if "ORDER BY committed_at DESC" in sql:
            self.result = [batch(5, 21)]
        elif sql.startswith("SELECT COUNT(*)"):
            self.result = [(0,) * 7]
        elif "MAX(id)" in sql:
            self.result = [(0,)]
        else:
            self.result = []

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.result

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, missing: Sequence[str] = (), broken: bool = False) -> None:
        self.missing = set(missing)
        self.broken = broken
        self.executed: list[str] = []
        self.rollbacks = 0
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        self.closed = True


def test_fetch_never_reads_events_and_ends_its_transaction() -> None:
    connection = FakeConnection()
    Fetcher().fetch(connection, NOW)
    tables = {re.search(r"FROM (\w+)", sql).group(1) for sql in connection.executed}  # type: ignore[union-attr]
    assert "events" not in tables
    assert tables == {"ingest_batches", "events_rejected", "pipeline_runs", "events_per_minute"}
    assert connection.rollbacks == 1


def test_fetch_missing_table_gives_none_and_rolls_back() -> None:
    connection = FakeConnection(missing=["events_per_minute", "pipeline_runs"])
    result = Fetcher().fetch(connection, NOW)
    assert result.minutes is None and result.type_totals is None and result.runs is None
    assert result.totals is not None and result.batches is not None
    assert connection.rollbacks == 3  # one per missing table (PostgreSQL), one at the end


def test_fetch_twice_reads_the_old_parts_once() -> None:
    connection = FakeConnection()
    fetcher = Fetcher(monotonic=lambda: 0.0)
    fetcher.fetch(connection, NOW)
    first = len(connection.executed)
    fetcher.fetch(connection, NOW)
    assert len(connection.executed) - first == first - 5  # 4 slow reads and 1 MAX(id) skipped


def test_fetch_other_errors_end_the_round() -> None:
    with pytest.raises(mysql.connector.Error):
        Fetcher().fetch(FakeConnection(broken=True), NOW)


class TableConnection(FakeConnection):
    """Answers a rollup's two queries from rows (at, key, value) by the boundary they get."""

    def __init__(self, rows: list[tuple[int, str, int]]) -> None:
        super().__init__()
        self.rows = rows

    def cursor(self) -> Any:
        connection = self

        class Cursor(FakeCursor):
            def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
                connection.executed.append(sql)
                (boundary,) = params
                before = " < %s" in sql
                sums: dict[str, int] = {}
                for at, key, value in connection.rows:
                    if (at < boundary) == before:
                        sums[key] = sums.get(key, 0) + value
                self.result = sorted(sums.items())

        return Cursor(self)


def test_rollup_reads_old_rows_now_and_then_and_new_rows_every_round() -> None:
    rollup = Rollup("t", ("k",), ("SUM(v)",), "at", lambda connection, now: 100, every_s=60)
    connection = TableConnection([(10, "a", 1), (99, "b", 2), (100, "b", 3)])

    def old_reads() -> int:
        return sum(" < %s" in sql for sql in connection.executed)

    assert sorted(rollup.read(connection, NOW, moment=0.0) or []) == [("a", 1), ("b", 5)]
    connection.rows += [(150, "a", 10), (160, "c", 1)]
    assert sorted(rollup.read(connection, NOW, moment=30.0) or []) == [
        ("a", 11),
        ("b", 5),
        ("c", 1),
    ]
    assert old_reads() == 1 and len(connection.executed) == 3
    connection.rows.append((50, "a", 100))  # lands before the boundary: seen at the next slow read
    assert sorted(rollup.read(connection, NOW, moment=59.0) or [])[0] == ("a", 11)
    assert sorted(rollup.read(connection, NOW, moment=60.0) or [])[0] == ("a", 111)
    assert old_reads() == 2


def test_rollup_without_keys_adds_up_one_row() -> None:
    rollup = Rollup("t", (), ("COUNT(*)", "SUM(v)"), "at", lambda c, now: 5, every_s=60)

    class Parts(FakeConnection):
        def cursor(self) -> Any:
            parts = self

            class Cursor(FakeCursor):
                def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
                    parts.executed.append(sql)
                    self.result = [(2, Decimal(7))] if " < %s" in sql else [(1, Decimal(3))]

            return Cursor(self)

    assert rollup.read(Parts(), NOW, 0.0) == [(3, Decimal(10))]


def test_rollup_of_a_missing_table_is_none_and_retried() -> None:
    rollup = Rollup("t", (), ("COUNT(*)",), "at", lambda c, now: 5, every_s=60)
    connection = FakeConnection(missing=["t"])
    assert rollup.read(connection, NOW, 0.0) is None
    assert rollup.read(connection, NOW, 1.0) is None
    assert len(connection.executed) == 2  # no cached part: the next round asks again


# --- poller and cache ------------------------------------------------------------------------


def test_poller_publishes_keeps_figures_on_error_and_reconnects() -> None:
    connections: list[FakeConnection] = []
    failing = [False]

    def connector(settings: object) -> FakeConnection:
        if failing[0]:
            raise mysql.connector.errors.InterfaceError(msg="Can't connect", errno=2003)
        connections.append(FakeConnection())
        return connections[-1]

    store = SnapshotStore()
    poller = Poller(SETTINGS, store, 1.0, connector=connector)
    first = poller.poll_once()
    assert first.ok and json.loads(first.body)["status"]["ok"] is True
    poller.poll_once()
    assert len(connections) == 1  # one connection, kept

    connections[0].broken = True
    failing[0] = True
    failed = poller.poll_once()
    document = json.loads(failed.body)
    assert not failed.ok and connections[0].closed
    assert document["status"]["error"].startswith("database unreachable at reader@127.0.0.1")
    assert document["totals"] is not None  # the last good figures stay on the page
    assert document["status"]["last_success_at"] is not None

    failing[0] = False
    assert poller.poll_once().ok and len(connections) == 2
    assert store.latest().version == 4


# --- the page's code -------------------------------------------------------------------------


def test_page_never_parses_data_as_markup() -> None:
    """Values reach the page through textContent / createElementNS only."""
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"setAttribute\(\s*['\"](?:style|on\w+)"
    )
    files = sorted(path for path in STATIC.rglob("*") if path.suffix in (".js", ".html"))
    assert {path.name for path in files} >= {"index.html", "dashboard.js"}
    for path in files:
        text = path.read_text("utf-8")
        assert not forbidden.search(text), path.name
    page = (STATIC / "index.html").read_text("utf-8")
    # CSP default-src 'self' blocks inline code: every script and style is a file of its own.
    assert "<style" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers
    assert not re.search(r"https?://(?!www\.w3\.org)", page + (STATIC / "dashboard.js").read_text())


def test_static_files_are_loaded_from_the_package() -> None:
    assert {"index.html", "dashboard.js", "dashboard.css", "favicon.svg"} <= set(load_static())


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["--interval", "0"], ["--interval", "nan"], ["--port", "70000"], ["--port", "x"]],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_missing_settings_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("MYSQL_", "PG", "INGEST_SINK")):
            monkeypatch.delenv(key)
    assert cli.main(["--port", "0"]) == 2
