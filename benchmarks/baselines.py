"""What a user would otherwise write: plain loaders of the same files into a plain table.

The plain table has the contract's columns and key, without validation, quarantine, lineage
or exactly-once bookkeeping; its columns are nullable, as naive loaders write empty fields.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import procs
from benchmarks.databases import Schema
from spark_app.common.database import DatabaseSettings, Kind
from spark_app.sink.drivers import connect

PLAIN_TABLE = "events_plain"
# Printed by plain_spark_jdbc.py with the seconds its write loop took.
WRITES_MARKER = "plain-spark-jdbc writes seconds:"
COLUMNS = ("event_id", "user_id", "product_id", "event_type", "price", "event_time")

PLAIN_DDL: dict[Kind, str] = {
    "mysql": f"""
        CREATE TABLE {PLAIN_TABLE} (
            event_id   VARCHAR(64)   NOT NULL PRIMARY KEY,
            user_id    VARCHAR(64)   NULL,
            product_id VARCHAR(64)   NULL,
            event_type VARCHAR(32)   NULL,
            price      DECIMAL(10,2) NULL,
            event_time DATETIME(6)   NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
    "postgresql": f"""
        CREATE TABLE {PLAIN_TABLE} (
            event_id   varchar(64)   NOT NULL PRIMARY KEY,
            user_id    varchar(64)   NULL,
            product_id varchar(64)   NULL,
            event_type varchar(32)   NULL,
            price      numeric(10,2) NULL,
            event_time timestamp(6)  NULL
        )""",
}


@dataclass(frozen=True)
class Jdbc:
    """A JDBC driver for the plain Spark baseline: where its jar is, its class, its URL."""

    jar_names: tuple[str, ...]
    driver: str
    scheme: str

    def jar(self) -> Path:
        """jars/NAME (scripts/setup puts it there), else Debian's copy in /usr/share/java."""
        for folder in (procs.REPO / "jars", Path("/usr/share/java")):
            for name in self.jar_names:
                if (folder / name).is_file():
                    return folder / name
        raise FileNotFoundError(
            f"no JDBC driver jar ({' or '.join(self.jar_names)}) in jars/ or /usr/share/java:"
            " run scripts/setup"
        )

    def url(self, settings: DatabaseSettings) -> str:
        return f"jdbc:{self.scheme}://{settings.host}:{settings.port}/{settings.database}"


JDBC: dict[Kind, Jdbc] = {
    # MariaDB Connector/J accepts jdbc:mysql: URLs.
    "mysql": Jdbc(("mariadb-java-client.jar",), "org.mariadb.jdbc.Driver", "mysql"),
    "postgresql": Jdbc(("postgresql.jar",), "org.postgresql.Driver", "postgresql"),
}


def create_plain_table(schema: Schema) -> None:
    schema.execute(PLAIN_DDL[schema.kind])


def count_plain(schema: Schema) -> int:
    return int(schema.scalar(f"SELECT COUNT(*) FROM {PLAIN_TABLE}"))


def _row(fields: list[str]) -> tuple[Any, ...]:
    event_id, user_id, product_id, event_type, price, event_time = fields
    return (
        event_id,
        user_id or None,
        product_id,
        event_type,
        price,
        datetime.fromisoformat(event_time).replace(tzinfo=None),
    )


def executemany_loader(schema: Schema, files: list[Path], chunk: int = 10_000) -> float:
    """csv module + mysql-connector executemany, a commit per file. Returns seconds."""
    create_plain_table(schema)
    sql = f"INSERT INTO {PLAIN_TABLE} ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)"
    started = time.monotonic()
    with connect(schema.settings()) as connection:
        cursor = connection.cursor()
        for path in files:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                next(reader)
                rows = [_row(fields) for fields in reader]
            for start in range(0, len(rows), chunk):
                cursor.executemany(sql, rows[start : start + chunk])
            connection.commit()
    return time.monotonic() - started


def load_data_loader(schema: Schema, files: list[Path]) -> float:
    """MySQL's bulk path: LOAD DATA LOCAL INFILE, a statement and a commit per file."""
    create_plain_table(schema)
    started = time.monotonic()
    with connect(
        schema.settings(),
        allow_local_infile=True,
        allow_local_infile_in_path=str(files[0].parent),
    ) as connection:
        cursor = connection.cursor()
        for path in files:
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {PLAIN_TABLE}"
                " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
                " LINES TERMINATED BY '\\n' IGNORE 1 LINES"
                " (event_id, @user_id, product_id, event_type, price, @event_time)"
                " SET user_id = NULLIF(@user_id, ''),"
                " event_time = STR_TO_DATE(@event_time, '%Y-%m-%dT%H:%i:%S.%fZ')",
                (str(path),),
            )
            connection.commit()
    return time.monotonic() - started


def psql_copy_loader(
    schema: Schema, files: list[Path], base_env: Mapping[str, str], log: Path
) -> float:
    """PostgreSQL's bulk path as a user types it: one psql session, `\\copy` per file (each
    its own transaction). The password reaches psql in PGPASSWORD, never on its command line."""
    create_plain_table(schema)
    script = log.with_suffix(".sql")
    lines = [
        f"\\copy {PLAIN_TABLE} ({', '.join(COLUMNS)}) FROM '{path}' WITH (FORMAT csv, HEADER true)"
        for path in files
    ]
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = schema.env(base_env, "owner")
    # Nothing of the user's ~/.psqlrc; stop at the first error.
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)]
    return procs.run(command, env, log, timeout=7200).seconds
