"""The private PostgreSQL cluster: its roles' reach, its login rules, its zone, its durability."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import errors

from localpg import Accounts, LocalPostgres, PgAccount, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """One private cluster for this module, on a free port with a temporary data folder."""
    server = LocalPostgres(tmp_path_factory.mktemp("localpg"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def accounts(pg_server: LocalPostgres) -> Accounts:
    """A database with its owner, writer and reader roles."""
    return pg_server.create_database("shop")


@pytest.fixture(scope="module")
def events(accounts: Accounts) -> str:
    """A table the owner created after provisioning, as a migration would."""
    with accounts.owner.connect() as owner:
        owner.execute(
            "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "name text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
    return "events"


def _fails(account: PgAccount, statement: str) -> None:
    with account.connect() as connection, pytest.raises(errors.InsufficientPrivilege):
        connection.execute(statement)


def test_the_server_is_private_and_not_the_shared_one(pg_server: LocalPostgres) -> None:
    assert pg_server.port != 5432
    assert pg_server.is_running()
    with pg_server.superuser_connect() as admin:
        row = admin.execute("SHOW data_directory").fetchone()
    assert row is not None and row[0] == str(pg_server.datadir)
    if os.geteuid() == 0:
        # initdb and pg_ctl refuse root: the cluster belongs to the postgres OS user.
        assert pg_server.datadir.stat().st_uid == pwd.getpwnam("postgres").pw_uid


def test_owner_creates_and_alters_tables(accounts: Accounts, events: str) -> None:
    with accounts.owner.connect() as owner:
        owner.execute("CREATE TABLE scratch (id int)")
        owner.execute("ALTER TABLE scratch ADD COLUMN note text")
        owner.execute("DROP TABLE scratch")
        row = owner.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
            (events,),
        ).fetchone()
    assert row == (accounts.owner.user,)


def test_writer_inserts_and_selects_but_changes_no_schema(accounts: Accounts, events: str) -> None:
    with accounts.writer.connect() as writer:
        # The identity column needs USAGE on its sequence, given by default privileges.
        writer.execute(f"INSERT INTO {events} (name) VALUES ('writer-row')")
        writer.execute(f"UPDATE {events} SET name = 'writer-row' WHERE name = 'writer-row'")
        count = writer.execute(
            f"SELECT count(*) FROM {events} WHERE name = 'writer-row'"
        ).fetchone()
    assert count is not None and count[0] >= 1
    for statement in (
        "CREATE TABLE intruder (id int)",
        "CREATE TEMPORARY TABLE intruder (id int)",
        f"ALTER TABLE {events} ADD COLUMN extra int",
        f"DROP TABLE {events}",
        f"TRUNCATE {events}",
        "CREATE SCHEMA intruder",
    ):
        _fails(accounts.writer, statement)


def test_reader_selects_only(accounts: Accounts, events: str) -> None:
    with accounts.reader.connect() as reader:
        assert reader.execute(f"SELECT count(*) FROM {events}").fetchone() is not None
    for statement in (
        f"INSERT INTO {events} (name) VALUES ('reader-row')",
        f"UPDATE {events} SET name = 'x'",
        f"DELETE FROM {events}",
        "CREATE TABLE intruder (id int)",
    ):
        _fails(accounts.reader, statement)


def test_tcp_login_needs_the_right_password(pg_server: LocalPostgres, accounts: Accounts) -> None:
    wrong = replace(accounts.writer, password="Wrong-Secret-4711")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed") as error:
        wrong.connect()
    assert wrong.password not in str(error.value)
    # The superuser has no password and may not use TCP at all, even with one.
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        replace(wrong, user="postgres").connect()


def test_passwords_stay_out_of_strings_and_the_server(
    pg_server: LocalPostgres, accounts: Accounts
) -> None:
    for account in (accounts.owner, accounts.writer, accounts.reader):
        assert account.password not in repr(account)
        assert account.password not in account.dsn()
        assert account.environ() == {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(pg_server.port),
            "PGDATABASE": "shop",
            "PGUSER": account.user,
            "PGPASSWORD": account.password,
        }
    assert len({accounts.owner.user, accounts.writer.user, accounts.reader.user}) == 3
    with pg_server.superuser_connect() as admin:
        stored = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname LIKE 'shop\\_%'"
        ).fetchall()
    # Only SCRAM verifiers reached the server, never a clear-text password.
    assert len(stored) == 3 and all(row[0].startswith("SCRAM-SHA-256$") for row in stored)
    log_text = pg_server.log_path.read_text(errors="replace")
    assert all(a.password not in log_text for a in (accounts.owner, accounts.writer))


def test_server_zone_is_not_utc_and_instants_survive(accounts: Accounts, events: str) -> None:
    instant = datetime(2024, 7, 1, 12, 30, tzinfo=UTC)
    with accounts.writer.connect() as writer:
        zone = writer.execute("SHOW timezone").fetchone()
        assert zone is not None and zone[0] not in {"UTC", "Etc/UTC", "GMT"}
        writer.execute(f"INSERT INTO {events} (name, at) VALUES ('instant', %s)", (instant,))
        row = writer.execute(
            f"SELECT at, to_char(at, 'HH24:MI') FROM {events} WHERE name = 'instant'"
        ).fetchone()
    # The same instant comes back; rendered in the session zone it is New York's 08:30.
    assert row is not None and row[0] == instant and row[1] == "08:30"


def test_reprovisioning_replaces_the_passwords(pg_server: LocalPostgres) -> None:
    first = pg_server.create_database("again")
    second = pg_server.create_database("again")
    assert first.writer.password != second.writer.password
    with second.writer.connect() as writer:
        assert writer.execute("SELECT current_user").fetchone() == ("again_writer",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        first.writer.connect()


def test_committed_rows_survive_a_crash(
    pg_server: LocalPostgres, accounts: Accounts, events: str
) -> None:
    with accounts.writer.connect() as writer:
        writer.execute(f"INSERT INTO {events} (name) VALUES ('committed')")
    pending = accounts.writer.connect()
    pending.execute(f"INSERT INTO {events} (name) VALUES ('in-flight')")
    try:
        pg_server.crash()
        assert not pg_server.is_running()
    finally:
        # The server has gone: closing only frees the client side.
        pending.close()
    pg_server.start()
    with accounts.reader.connect() as reader:
        names = {row[0] for row in reader.execute(f"SELECT name FROM {events}").fetchall()}
    assert "committed" in names
    assert "in-flight" not in names


def test_restart_keeps_the_data_folder(
    pg_server: LocalPostgres, accounts: Accounts, events: str
) -> None:
    with accounts.writer.connect() as writer:
        writer.execute(f"INSERT INTO {events} (name) VALUES ('before-restart')")
    pg_server.restart()
    assert pg_server.is_running()
    with accounts.reader.connect() as reader:
        row = reader.execute(
            f"SELECT count(*) FROM {events} WHERE name = 'before-restart'"
        ).fetchone()
    assert row == (1,)
