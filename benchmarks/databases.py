"""The benchmark's private servers, and a fresh schema with the app's tables per measurement."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localmysql import LocalServer, free_port
from localpg import LocalPostgres
from spark_app.common.database import DatabaseSettings, Kind, settings_from_env
from spark_app.sink import dialect_for
from spark_app.sink.drivers import connect

log = logging.getLogger("benchmarks")


@dataclass(frozen=True)
class Schema:
    """One schema (MySQL) or database (PostgreSQL) with the app's tables and three accounts."""

    kind: Kind
    name: str
    owner: Mapping[str, str] = field(repr=False)
    writer: Mapping[str, str] = field(repr=False)
    reader: Mapping[str, str] = field(repr=False)

    def settings(self, account: str = "owner") -> DatabaseSettings:
        return settings_from_env(self.kind, getattr(self, account))

    def env(self, base: Mapping[str, str], account: str = "writer") -> dict[str, str]:
        """A command's environment with this account's MYSQL_* or PG* variables."""
        return {**base, **getattr(self, account)}

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement, read with the owner account."""
        with connect(self.settings()) as connection:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            rows = [tuple(row) for row in cursor.fetchall()]
            connection.rollback()
            return rows

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def execute(self, *statements: str) -> None:
        """Run statements with the owner account and commit."""
        with connect(self.settings()) as connection:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            connection.commit()

    def files_committed(self) -> int:
        """Files recorded by the pipeline's committed batches so far."""
        return int(self.scalar("SELECT COALESCE(SUM(files), 0) FROM ingest_batches") or 0)


@dataclass
class Database:
    """A private server of one kind, started under `base`; hands out fresh schemas."""

    kind: Kind
    label: str
    server: LocalServer | LocalPostgres
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def start(cls, kind: Kind, base: Path, label: str | None = None, **options: Any) -> Database:
        port = free_port()
        server: LocalServer | LocalPostgres
        if kind == "mysql":
            server = LocalServer(base, port, **options)
        else:
            server = LocalPostgres(base, port, **options)
        server.start()
        log.info("%s server on 127.0.0.1:%d", label or kind, port)
        return cls(kind, label or kind, server)

    def stop(self) -> None:
        self.server.stop()

    def schema(self, label: str) -> Schema:
        """A new, empty schema with the app's tables, rights granted as in production."""
        name = f"b_{label}_{next(self._names)}".lower()
        if isinstance(self.server, LocalServer):
            accounts = self.server.create_accounts(name)
            owner = accounts.owner.environ()
            writer, reader = accounts.writer.environ(), accounts.reader.environ()
            users = accounts.writer.user, accounts.reader.user
        else:
            pg = self.server.create_database(name)
            owner, writer, reader = pg.owner.environ(), pg.writer.environ(), pg.reader.environ()
            users = pg.writer.user, pg.reader.user
        schema = Schema(self.kind, name, owner, writer, reader)
        dialect = dialect_for(schema.settings("owner"))
        dialect.ensure_schema()
        dialect.grant(*users)
        return schema

    def version(self) -> str:
        """SELECT VERSION() of the server."""
        return str(self._admin_scalar("SELECT VERSION()"))

    def buffer_pool(self) -> str:
        """The server's cache of table pages: innodb_buffer_pool_size or shared_buffers."""
        if self.kind == "mysql":
            size = int(self._admin_scalar("SELECT @@innodb_buffer_pool_size"))
            return f"innodb_buffer_pool_size = {size / 2**20:.0f} MB"
        return f"shared_buffers = {self._admin_scalar('SHOW shared_buffers')}"

    def _admin_scalar(self, sql: str) -> Any:
        if isinstance(self.server, LocalServer):
            connection = self.server.root_connection()
            try:
                cursor: Any = connection.cursor()
                cursor.execute(sql)
                row = cursor.fetchone()
                return row[0] if row else None
            finally:
                connection.close()
        with self.server.superuser_connect() as admin:
            row = admin.execute(sql).fetchone()
            return row[0] if row else None

    def settle(self, timeout: float = 300) -> float:
        """Write dirty pages out (InnoDB flush, PostgreSQL CHECKPOINT) so that a bulk preload's
        write-back does not run during the measurement; returns the seconds it took."""
        started = time.monotonic()
        if isinstance(self.server, LocalServer):
            connection = self.server.root_connection()
            try:
                cursor: Any = connection.cursor()
                cursor.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
                row = cursor.fetchone()
                previous = float(str(row[0])) if row else 90.0
                cursor.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
                try:
                    deadline = started + timeout
                    while time.monotonic() < deadline:
                        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                        status = cursor.fetchone()
                        if status is None or int(str(status[1])) < 100:
                            break
                        time.sleep(0.5)
                finally:
                    cursor.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {previous}")
            finally:
                connection.close()
        else:
            with self.server.superuser_connect() as admin:
                admin.execute("CHECKPOINT")
        return time.monotonic() - started
