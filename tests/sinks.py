"""The database a test runs the product against: a fresh schema on a private MySQL-compatible or
PostgreSQL server, with the owner (migrations), writer (the stream) and reader (the commands)
accounts, and a way to read the tables back for assertions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from localmysql import LocalServer
from localpg import LocalPostgres
from spark_app.common.database import DatabaseSettings, settings_from_env
from spark_app.sink import dialect_for
from spark_app.sink.drivers import connect


def _mysql_env(account: Any) -> dict[str, str]:
    return {
        "MYSQL_HOST": account.host,
        "MYSQL_PORT": str(account.port),
        "MYSQL_DATABASE": account.database,
        "MYSQL_USER": account.user,
        "MYSQL_PASSWORD": account.password,
    }


@dataclass
class SinkUnderTest:
    """One schema on one server, seen through its three accounts."""

    kind: str
    server: LocalServer | LocalPostgres
    owner: dict[str, str]
    writer: dict[str, str]
    reader: dict[str, str]

    @property
    def args(self) -> tuple[str, ...]:
        """The stream's flag choosing this sink."""
        return ("--sink", self.kind)

    def settings(self, account: str = "writer") -> DatabaseSettings:
        return settings_from_env(self.kind, getattr(self, account))

    def env(self, account: str = "writer") -> dict[str, str]:
        """The environment of a real command: the account's variables, the venv first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "PG"))}
        env.update(getattr(self, account))
        env["INGEST_SINK"] = self.kind
        env["PATH"] = str(Path(os.sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env.pop("SPARK_HOME", None)
        return env

    def migrate(self) -> None:
        """Create the tables with the owner account and grant the writer and reader."""
        dialect = dialect_for(self.settings("owner"))
        dialect.ensure_schema()
        dialect.grant(self.writer_user, self.reader_user)

    @property
    def writer_user(self) -> str:
        return self.writer["MYSQL_USER" if self.kind == "mysql" else "PGUSER"]

    @property
    def reader_user(self) -> str:
        return self.reader["MYSQL_USER" if self.kind == "mysql" else "PGUSER"]

    def query(
        self, sql: str, params: tuple[Any, ...] = (), account: str = "owner"
    ) -> list[tuple[Any, ...]]:
        """Rows of one statement."""
        with connect(self.settings(account)) as connection:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            rows = list(cursor.fetchall())
            connection.rollback()
            return rows

    def count(self, table: str) -> int:
        """Rows in one of the sink's tables (0 while it does not exist yet)."""
        try:
            return int(self.query(f"SELECT COUNT(*) FROM {table}")[0][0])
        except Exception:
            return 0

    def events(self) -> dict[str, tuple[Any, ...]]:
        """events keyed by event_id: (user, product, type, price, time, file name, line)."""
        rows = self.query(
            "SELECT event_id, user_id, product_id, event_type, price, event_time, source_file,"
            " source_line FROM events"
        )
        return {
            row[0]: (
                row[1],
                row[2],
                row[3],
                Decimal(row[4]),
                row[5],
                row[6].rsplit("/", 1)[-1],
                row[7],
            )
            for row in rows
        }

    def rejected(self) -> list[tuple[str, str, int]]:
        """events_rejected as sorted (file name, reason, line)."""
        rows = self.query("SELECT source_file, reason, source_line FROM events_rejected")
        return sorted((row[0].rsplit("/", 1)[-1], row[1], row[2]) for row in rows)

    def totals(self) -> tuple[int, int, int, int]:
        """Summed accounting of ingest_batches: read, written, duplicate, rejected."""
        row = self.query(
            "SELECT COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_written), 0),"
            " COALESCE(SUM(rows_duplicate), 0), COALESCE(SUM(rows_rejected), 0)"
            " FROM ingest_batches"
        )[0]
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def per_minute(self) -> dict[tuple[Any, str], tuple[int, Decimal]]:
        rows = self.query(
            "SELECT minute_start, event_type, events, price_total FROM events_per_minute"
        )
        return {(row[0], row[1]): (int(row[2]), Decimal(row[3])) for row in rows}

    def per_minute_from_events(self) -> dict[tuple[Any, str], tuple[int, Decimal]]:
        """The GROUP BY over events that events_per_minute must always equal."""
        minute = (
            "DATE_FORMAT(event_time, '%Y-%m-%d %H:%i:00')"
            if self.kind == "mysql"
            else "date_trunc('minute', event_time)"
        )
        rows = self.query(
            f"SELECT {minute} AS m, event_type, COUNT(*), SUM(price) FROM events"
            f" GROUP BY m, event_type"
        )
        return {(_as_datetime(row[0]), row[1]): (int(row[2]), Decimal(row[3])) for row in rows}

    def stop_server(self) -> None:
        self.server.stop()

    def start_server(self) -> None:
        self.server.start()


def _as_datetime(value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def mysql_sink(server: LocalServer, name: str) -> SinkUnderTest:
    accounts = server.create_accounts(name)
    sink = SinkUnderTest(
        "mysql", server, _mysql_env(accounts.owner), _mysql_env(accounts.writer),
        _mysql_env(accounts.reader),
    )  # fmt: skip
    sink.migrate()
    return sink


def postgresql_sink(server: LocalPostgres, name: str) -> SinkUnderTest:
    accounts = server.create_database(name)
    sink = SinkUnderTest(
        "postgresql", server, accounts.owner.environ(), accounts.writer.environ(),
        accounts.reader.environ(),
    )  # fmt: skip
    sink.migrate()
    return sink
