"""The sink's tables: numbered migrations applied in order, and the accounts' grants.

`SchemaSetup` is mixed into `Dialect`. The steps are the same on every database; each dialect
says how its database reports the applied version, how it words a GRANT and which errors mean
that the account lacks a right. The migrations are the files under sql/<kind>/NNN_name.sql.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from contextlib import closing
from importlib import resources
from typing import Any

from spark_app.common.database import DatabaseSettings

# What the stream's account may do, table by table: never ALTER, DROP or DELETE, and no UPDATE
# of events or ingest_batches (pipeline_runs' DELETE undoes a failed `ingest-runs import`).
WRITER_PRIVILEGES: dict[str, str] = {
    "events": "SELECT, INSERT",
    "events_rejected": "SELECT, INSERT",
    "ingest_batches": "SELECT, INSERT",
    "ingest_files": "SELECT, INSERT",
    "users": "SELECT, INSERT, UPDATE",
    "products": "SELECT, INSERT, UPDATE",
    "events_per_minute": "SELECT, INSERT, UPDATE",
    "pipeline_runs": "SELECT, INSERT, UPDATE, DELETE",
    "schema_migrations": "SELECT",
}
_ACCOUNT = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class SchemaError(RuntimeError):
    """The sink's tables are missing or behind, and this account may not create or migrate them."""


def migration_files(kind: str) -> list[tuple[int, str, list[str]]]:
    """(version, name, statements) of the numbered SQL files of a dialect, in order."""
    folder = resources.files("spark_app.sink").joinpath(f"sql/{kind}")
    found = []
    for entry in folder.iterdir():
        match = re.match(r"^(\d{3})_(\w+)\.sql$", entry.name)
        if match:
            text = re.sub(r"--[^\n]*", "", entry.read_text("utf-8"))
            statements = [part.strip() for part in text.split(";") if part.strip()]
            found.append((int(match.group(1)), match.group(2), statements))
    return sorted(found)


def apply_migration(connection: Any, version: int, name: str, statements: list[str]) -> None:
    """Run one migration's statements and record it."""
    cursor = connection.cursor()
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY,"
        " name VARCHAR(128) NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    for statement in statements:
        cursor.execute(statement)
    cursor.execute(
        "INSERT INTO schema_migrations (version, name, applied_at)"
        " VALUES (%s, %s, CURRENT_TIMESTAMP)",
        (version, name),
    )
    connection.commit()


class SchemaSetup(ABC):
    """Bringing the tables up to the app's version, and granting the accounts their rights."""

    kind: str
    settings: DatabaseSettings

    @abstractmethod
    def connect(self) -> Any:
        """A new connection, autocommit off."""

    @abstractmethod
    def schema_version(self, connection: Any) -> int:
        """The applied migration version (0: no tables; 1: tables from before versioning)."""

    @abstractmethod
    def is_permission_error(self, exc: BaseException) -> bool:
        """Whether the account lacks a right (the job stops and names the grant)."""

    @abstractmethod
    def grant_statements(self, writer: str | None, reader: str | None) -> list[str]:
        """GRANTs that give the stream's and the commands' accounts what they need, no more."""

    def ensure_schema(self) -> int:
        """Apply missing migrations where this account may; else say what is missing."""
        migrations = migration_files(self.kind)
        latest = migrations[-1][0]
        with closing(self.connect()) as connection:
            current = self.schema_version(connection)
            if current >= latest:
                return current
            for version, name, statements in migrations:
                if version <= current:
                    continue
                try:
                    apply_migration(connection, version, name, statements)
                except Exception as exc:
                    if self.is_permission_error(exc):
                        raise SchemaError(
                            f"the tables are at version {current}, the app needs {latest}"
                            f" ({name} is not applied) and {self.settings.user} may not change"
                            " them: run `ingest-migrate` with the schema owner's account"
                        ) from None
                    raise
                current = version
        return current

    def grant(self, writer: str | None, reader: str | None) -> None:
        """Run the GRANTs (with the schema owner's account)."""
        for name in (writer, reader):
            if name is not None and not _ACCOUNT.match(name):
                raise ValueError(f"account names are 1-64 letters, digits or _, got {name!r}")
        with closing(self.connect()) as connection:
            cursor = connection.cursor()
            for statement in self.grant_statements(writer, reader):
                cursor.execute(statement)
            connection.commit()
