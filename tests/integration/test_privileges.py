"""Every statement kind the writer runs is one docs/PRIVILEGES.md lists with what MySQL 8.4
requires: the server's general query log of a real stream, on both MySQL write paths."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from localmysql import LocalServer
from tests.helpers import REPO, generate, run_stream, spark_submit
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

LOAD = "LOAD DATA LOCAL INFILE …"
# (pattern on the normalised statement, the kind as docs/PRIVILEGES.md names it), first match.
KINDS = [
    (r"^SELECT .* FOR UPDATE", "SELECT … FOR UPDATE"),
    (r"^SELECT @@[\w.]+( AS \w+)?(, @@[\w.]+( AS \w+)?)*$", "SELECT @@variable"),
    (r"^SELECT ", "SELECT"),
    (r"^SET ", "SET"),
    (r"^START TRANSACTION", "START TRANSACTION"),
    (r"^COMMIT", "COMMIT"),
    (r"^ROLLBACK TO SAVEPOINT ", "ROLLBACK TO SAVEPOINT"),
    (r"^ROLLBACK", "ROLLBACK"),
    (r"^SAVEPOINT ", "SAVEPOINT"),
    (r"^RELEASE SAVEPOINT ", "RELEASE SAVEPOINT"),
    (r"^LOAD DATA LOCAL INFILE \S+ IGNORE INTO TABLE ", f"{LOAD} IGNORE INTO TABLE"),
    (r"^LOAD DATA LOCAL INFILE \S+ INTO TABLE ", f"{LOAD} INTO TABLE"),
    (r"^INSERT IGNORE ", "INSERT IGNORE"),
    (r"^INSERT .* ON DUPLICATE KEY UPDATE ", "INSERT … ON DUPLICATE KEY UPDATE"),
    (r"^INSERT ", "INSERT"),
    (r"^UPDATE ", "UPDATE"),
    (r"^SHOW COUNT\(\*\) WARNINGS", "SHOW COUNT(*) WARNINGS"),
    (r"^SHOW WARNINGS", "SHOW WARNINGS"),
    (r"^DELETE ", "DELETE"),
]


def kind_of(statement: str) -> str:
    """The kind of one statement (whitespace collapsed, keywords upper-cased by the pattern)."""
    text = " ".join(statement.split())
    for pattern, kind in KINDS:
        if re.match(pattern, text, re.IGNORECASE | re.DOTALL):
            return kind
    return f"unknown: {text[:80]}"


def documented_kinds(section: str) -> set[str]:
    """The first column of a table of docs/PRIVILEGES.md, in the section with this heading."""
    text = (REPO / "docs" / "PRIVILEGES.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", body, re.MULTILINE))


def test_every_documented_kind_is_recognised() -> None:
    """The table and the classifier agree on names (a renamed row cannot pass unnoticed)."""
    named = {kind for _, kind in KINDS} - {"SELECT … FOR UPDATE"}
    assert documented_kinds("The writer (the stream)") == named


def general_log(server: LocalServer, on: bool) -> None:
    """Turn MariaDB's general query log (into mysql.general_log) on, emptied, or off."""
    connection = server.root_connection()
    try:
        cursor = connection.cursor()
        if on:
            cursor.execute("SET GLOBAL log_output = 'TABLE'")
            cursor.execute("TRUNCATE TABLE mysql.general_log")
        cursor.execute(f"SET GLOBAL general_log = {1 if on else 0}")
    finally:
        connection.close()


def _statements(server: LocalServer, user: str) -> list[str]:
    connection = server.root_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log"
            " WHERE command_type = 'Query' AND user_host LIKE %s",
            (f"{user}[%",),
        )
        return [str(row[0]) for row in cursor.fetchall()]
    finally:
        connection.close()


def test_the_writer_runs_only_documented_statement_kinds(
    spark: SparkSession, mysql: SinkUnderTest, mysql_server: LocalServer, tmp_path: Path
) -> None:
    env = mysql.env()
    # Enough events in one batch for LOAD DATA (a chunk of fewer rows is inserted).
    first = generate(env, tmp_path / "drop", 3, 41, "--events-per-file", "1000", "--entities",
                     "--null-user-rate", "0.2")  # fmt: skip
    general_log(mysql_server, True)
    try:
        # The load-data path, the real command (run record included), with a replayed file.
        result = spark_submit(
            env, "--input-dir", str(tmp_path / "drop"), "--checkpoint-dir",
            str(tmp_path / "checkpoint"), "--available-now",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        # The insert path, in-process, over the same events again (all duplicates).
        again = tmp_path / "again"
        again.mkdir()
        for path in first:
            (again / f"copy_{path.name}").write_bytes(path.read_bytes())
        time.sleep(0.01)
        run_stream(spark, mysql, again, tmp_path / "checkpoint2", insert_path=True)
    finally:
        general_log(mysql_server, False)
    statements = _statements(mysql_server, mysql.writer_user)
    assert len(statements) > 20
    kinds = {kind_of(statement) for statement in statements}
    assert "SELECT … FOR UPDATE" not in kinds
    undocumented = kinds - documented_kinds("The writer (the stream)")
    assert not undocumented, (undocumented, sorted(kinds))
    assert {"LOAD DATA LOCAL INFILE … IGNORE INTO TABLE", "INSERT IGNORE", "SAVEPOINT"} <= kinds
    print(f"writer statement kinds on MySQL: {sorted(kinds)}")
