"""ingest-integrity without a database: query rows to findings, lines, JSON, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import mysql.connector
import pytest

from spark_app.commands import integrity
from spark_app.commands.integrity import (
    Finding,
    as_json,
    before_registration_finding,
    check,
    describe,
    duplicate_emails_finding,
    exit_code,
    lines,
    orphans_finding,
    price_mismatch_finding,
)

NOW = datetime(2026, 1, 2, 12, 0, 0)
MYSQL_ENV = {"MYSQL_DATABASE": "shop", "MYSQL_USER": "reader", "MYSQL_PASSWORD": "secret"}

CLEAN_ROWS = {
    "orphans": (0, 0, 0, None, None, None, None),
    "price": (0, 0, None, None),
    "registered": (0, 0, None, None),
    "emails": (0, 0, None, None),
}


class FakeCursor:
    """Answers each check's query with the row of a table keyed by a word of its SQL."""

    def __init__(self, answers: dict[str, tuple[Any, ...]], log: list[tuple[str, Any]]) -> None:
        self.answers, self.log, self.row = answers, log, ()

    def execute(self, sql: str, params: Any = None) -> None:
        self.log.append((sql, params))
        if "is_placeholder = TRUE" in sql:
            self.row = self.answers["orphans"]
        elif "list_price" in sql:
            self.row = self.answers["price"]
        elif "registered_at" in sql:
            self.row = self.answers["registered"]
        else:
            self.row = self.answers["emails"]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [self.row]

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, answers: dict[str, tuple[Any, ...]]) -> None:
        self.answers = answers
        self.log: list[tuple[str, Any]] = []
        self.rollbacks = 0

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.answers, self.log)

    def rollback(self) -> None:
        self.rollbacks += 1


def _violating() -> dict[str, tuple[Any, ...]]:
    return {
        "orphans": (3, 2, 1, "U1", "U9", "P3", "P3"),
        "price": (5, 2, "P00042", "P00117"),
        "registered": (1, 1, "U000123", "U000123"),
        "emails": (1, 2, "ann@x.io", "ann@x.io"),
    }


# --- rows to findings ---------------------------------------------------------------------------


def test_a_zero_count_is_no_finding() -> None:
    assert orphans_finding(CLEAN_ROWS["orphans"]) is None
    assert price_mismatch_finding(CLEAN_ROWS["price"]) is None
    assert before_registration_finding(CLEAN_ROWS["registered"]) is None
    assert duplicate_emails_finding(CLEAN_ROWS["emails"]) is None


def test_rows_become_findings_with_each_example_once() -> None:
    rows = _violating()
    assert orphans_finding(rows["orphans"]) == Finding(
        "orphans", 3, {"users": 2, "products": 1}, ("U1", "U9", "P3")
    )
    # Drivers give counts as int or Decimal (MySQL's SUM): both are read as int.
    assert price_mismatch_finding((Decimal(5), Decimal(2), "P1", "P2")) == Finding(
        "price_mismatch", 5, {"products": 2}, ("P1", "P2")
    )
    assert before_registration_finding(rows["registered"]) == Finding(
        "before_registration", 1, {"users": 1}, ("U000123",)
    )
    assert duplicate_emails_finding(rows["emails"]) == Finding(
        "duplicate_emails", 1, {"users": 2}, ("ann@x.io",)
    )


def test_orphans_of_products_only_name_no_user_example() -> None:
    finding = orphans_finding((4, 0, 2, None, None, "P1", "P2"))
    assert finding is not None
    assert finding.examples == ("P1", "P2")
    assert describe(finding, 60) == (
        "orphans: 4 event(s) name 0 placeholder user(s) and 2 placeholder product(s),"
        " ingested over 60 s ago (e.g. P1, P2)"
    )


# --- findings to lines, JSON and exit codes -----------------------------------------------------


def _findings() -> list[Finding]:
    rows = _violating()
    found = [
        orphans_finding(rows["orphans"]),
        price_mismatch_finding(rows["price"]),
        before_registration_finding(rows["registered"]),
        duplicate_emails_finding(rows["emails"]),
    ]
    return [finding for finding in found if finding is not None]


def test_one_line_per_kind_then_the_summary() -> None:
    assert lines(_findings(), 300) == [
        "orphans: 3 event(s) name 2 placeholder user(s) and 1 placeholder product(s),"
        " ingested over 300 s ago (e.g. U1, U9, P3)",
        "price_mismatch: 5 event(s) of 2 real product(s) differ from the list price"
        " (e.g. P00042, P00117)",
        "before_registration: 1 event(s) of 1 real user(s) happened before the user registered"
        " (e.g. U000123)",
        "duplicate_emails: 1 email(s) used by 2 real users (e.g. ann@x.io)",
        "integrity: 4 violation kind(s)",
    ]


def test_no_finding_is_one_line_and_exit_0() -> None:
    assert lines([]) == ["integrity: 0 violations"]
    assert exit_code([]) == 0
    assert exit_code(_findings()[:1]) == 1


def test_json_lists_each_finding_with_its_counts() -> None:
    document = as_json(_findings(), 300.0, NOW)
    assert document["ok"] is False
    assert document["violation_kinds"] == 4
    assert document["checked_at"] == "2026-01-02T12:00:00Z"
    assert document["findings"][0] == {
        "kind": "orphans",
        "count": 3,
        "users": 2,
        "products": 1,
        "examples": ["U1", "U9", "P3"],
    }
    assert json.loads(json.dumps(document)) == document
    assert as_json([], 300.0, NOW)["ok"] is True


# --- check() on a fake connection ---------------------------------------------------------------


def test_check_runs_each_query_once_with_the_grace_cutoff_and_rolls_back() -> None:
    connection = FakeConnection(_violating())
    findings = check(connection, 300, NOW)
    assert [f.kind for f in findings] == list(integrity.KINDS)
    assert len(connection.log) == 4
    orphan_sql, params = connection.log[0]
    assert "ingested_at < %s" in orphan_sql
    assert params == (NOW - timedelta(seconds=300),)
    assert all(params is None for _, params in connection.log[1:])
    assert connection.rollbacks == 1


def test_check_takes_an_aware_now_as_utc() -> None:
    connection = FakeConnection(dict(CLEAN_ROWS))
    aware = datetime(2026, 1, 2, 13, 0, tzinfo=UTC).astimezone()
    assert check(connection, 0, aware) == []
    assert connection.log[0][1] == (datetime(2026, 1, 2, 13, 0),)


def test_no_query_uses_a_dialect_only_function() -> None:
    for sql, _, _ in integrity.CHECKS:
        for word in ("DATE_FORMAT", "date_trunc", "GROUP_CONCAT", "string_agg", "`"):
            assert word.lower() not in sql.lower()


# --- main ---------------------------------------------------------------------------------------


def _fake_connect(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], FakeConnection]
) -> list[FakeConnection]:
    made: list[FakeConnection] = []

    @contextmanager
    def connect(settings: Any, timeout: int = 10) -> Iterator[FakeConnection]:
        made.append(make())
        yield made[-1]

    monkeypatch.setattr(integrity, "connect", connect)
    return made


@pytest.fixture
def mysql_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("INGEST_SINK", "PGDATABASE", "MYSQL_HOST", "MYSQL_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in MYSQL_ENV.items():
        monkeypatch.setenv(key, value)


def test_main_prints_the_findings_and_exits_1(
    mysql_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_connect(monkeypatch, lambda: FakeConnection(_violating()))
    assert integrity.main(["--grace-seconds", "60"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("orphans: 3 event(s)") and "over 60 s ago" in out[0]
    assert out[-1] == "integrity: 4 violation kind(s)"


def test_main_clean_exits_0_and_json_is_one_object(
    mysql_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_connect(monkeypatch, lambda: FakeConnection(dict(CLEAN_ROWS)))
    assert integrity.main(["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["ok"], document["findings"], document["grace_seconds"]) == (True, [], 300.0)


def test_main_unreachable_database_exits_3_without_the_password(
    mysql_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse() -> FakeConnection:
        raise mysql.connector.errors.InterfaceError("2003: Can't connect to MySQL server")

    _fake_connect(monkeypatch, refuse)
    assert integrity.main([]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "integrity: cannot use MySQL at reader@127.0.0.1:3306/shop" in captured.err
    assert "secret" not in captured.err


def test_main_missing_tables_is_nothing_to_check(
    mysql_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing() -> FakeConnection:
        raise mysql.connector.errors.ProgrammingError(
            "Table 'shop.users' doesn't exist", errno=1146
        )

    _fake_connect(monkeypatch, missing)
    assert integrity.main([]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "integrity: 0 violations"
    assert "nothing to check yet" in captured.err


def test_main_missing_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("INGEST_SINK", "MYSQL_DATABASE", "PGDATABASE"):
        monkeypatch.delenv(key, raising=False)
    assert integrity.main([]) == 2
    assert "MYSQL_DATABASE is not set" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_bad_grace_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        integrity.main(["--grace-seconds", value])
    assert exited.value.code == 2
    assert "--grace-seconds" in capsys.readouterr().err
