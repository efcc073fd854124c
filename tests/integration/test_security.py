"""Least privilege, versioned migrations and secrets, on both sinks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from localmysql import LocalServer
from spark_app.sink import dialect_for
from spark_app.sink.drivers import connect, database_errors
from spark_app.sink.schema import migration_files
from tests.helpers import assert_sink_matches, generate, spark_submit
from tests.sinks import SinkUnderTest, _mysql_env

pytestmark = pytest.mark.integration

REFUSED_TO_WRITER = (
    "ALTER TABLE events ADD COLUMN x INT",
    "DROP TABLE events_rejected",
    "DELETE FROM events",
    "UPDATE events SET user_id = 'x'",
    "DELETE FROM ingest_batches",
    "UPDATE ingest_batches SET files = 0",
    "CREATE TABLE intruder (id INT)",
)
REFUSED_TO_READER = (
    "INSERT INTO events_rejected (reason, source_file, source_line, raw_line, query_id,"
    " batch_id, rejected_at) VALUES ('x', 'f', 1, 'r', 'q', 1, CURRENT_TIMESTAMP)",
    "UPDATE users SET name = 'x'",
    "DELETE FROM pipeline_runs",
)


def _refused(sink: SinkUnderTest, account: str, statement: str) -> bool:
    try:
        with connect(sink.settings(account)) as connection:
            connection.cursor().execute(statement)
            connection.rollback()
    except database_errors() as exc:
        return dialect_for(sink.settings(account)).is_permission_error(exc)
    return False


def test_each_account_is_refused_what_it_must_not_do(sink: SinkUnderTest) -> None:
    for statement in REFUSED_TO_WRITER:
        assert _refused(sink, "writer", statement), statement
    for statement in REFUSED_TO_READER:
        assert _refused(sink, "reader", statement), statement
    # ... and may do what it must.
    assert sink.query("SELECT COUNT(*) FROM events", account="reader") == [(0,)]


def test_the_stream_runs_with_the_least_privileged_account(
    sink: SinkUnderTest, tmp_path: Path
) -> None:
    files = generate(sink.env(), tmp_path / "drop", 2, 41, "--entities")
    result = spark_submit(
        sink.env("writer"), *sink.args, "--input-dir", str(tmp_path / "drop"),
        "--checkpoint-dir", str(tmp_path / "c"), "--available-now",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert_sink_matches(sink, files)


def test_a_writer_on_an_unmigrated_database_is_told_what_is_missing(
    mysql_server: LocalServer, tmp_path: Path
) -> None:
    accounts = mysql_server.create_accounts(f"m_{uuid.uuid4().hex[:8]}")
    connection = mysql_server.root_connection()
    try:  # the writer may read and write, but not create tables
        connection.cursor().execute(
            f"GRANT SELECT, INSERT, UPDATE ON `{accounts.writer.database}`.*"
            f" TO '{accounts.writer.user}'@'%'"
        )
    finally:
        connection.close()
    sink = SinkUnderTest(
        "mysql", mysql_server, _mysql_env(accounts.owner), _mysql_env(accounts.writer),
        _mysql_env(accounts.reader),
    )  # fmt: skip
    result = spark_submit(
        sink.env("writer"), "--input-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")
    )
    assert result.returncode == 3, result.stdout[-3000:]
    assert "ingest-migrate" in result.stdout and "version 0" in result.stdout


def test_a_database_of_the_first_release_is_upgraded_in_place(mysql_server: LocalServer) -> None:
    accounts = mysql_server.create_accounts(f"u_{uuid.uuid4().hex[:8]}")
    sink = SinkUnderTest(
        "mysql", mysql_server, _mysql_env(accounts.owner), _mysql_env(accounts.writer),
        _mysql_env(accounts.reader),
    )  # fmt: skip
    _, _, first_release = migration_files("mysql")[0]
    with connect(sink.settings("owner")) as connection:
        cursor = connection.cursor()
        for statement in first_release:  # what the first release's schema.sql created
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO events VALUES ('old-1', 'u', 'p', 'view', 1.50, '2024-01-01 00:00:00',"
            " 'file:/old.csv', 2, 'q', 0, '2024-01-01 00:00:01')"
        )
        connection.commit()
    sink.migrate()
    assert sink.query("SELECT MAX(version) FROM schema_migrations") == [
        (migration_files("mysql")[-1][0],)
    ]
    assert sink.events()["old-1"][:3] == ("u", "p", "view")
    long_path = "file:/" + "d/" * 800 + "a.csv"  # longer than the first release's column
    with connect(sink.settings("writer")) as connection:
        connection.cursor().execute(
            "INSERT INTO events VALUES ('new-1', 'u', 'p', 'view', 1, '2024-01-01 00:00:00',"
            " %s, 2, 'q', 1, '2024-01-01 00:00:01')",
            (long_path,),
        )
        connection.commit()
    assert sink.count("events") == 2


def test_wrong_password_is_one_clear_error_without_the_secret(
    sink: SinkUnderTest, tmp_path: Path
) -> None:
    key = "MYSQL_PASSWORD" if sink.kind == "mysql" else "PGPASSWORD"
    env = {**sink.env(), key: "Wrong-Secret-4711"}
    result = spark_submit(
        env, *sink.args, "--input-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")
    )
    assert result.returncode == 3, result.stdout[-3000:]
    assert "Wrong-Secret-4711" not in result.stdout
    assert "Traceback" not in result.stdout


def test_password_from_a_file(mysql: SinkUnderTest, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(mysql.writer["MYSQL_PASSWORD"] + "\n")
    secret.chmod(0o600)
    env = {**mysql.env(), "MYSQL_PASSWORD_FILE": str(secret)}
    env.pop("MYSQL_PASSWORD")
    result = spark_submit(
        env, "--input-dir", str(tmp_path / "none"), "--checkpoint-dir", str(tmp_path / "c"),
        "--available-now",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert mysql.writer["MYSQL_PASSWORD"] not in result.stdout
