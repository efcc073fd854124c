"""The MySQL (and MariaDB) dialect: LOAD DATA LOCAL INFILE where the server allows it.

With `local_infile` on (MariaDB's default; docker-compose's MySQL enables it), the batch's
events are written to a tab-separated file in a private folder on the driver and loaded with
`LOAD DATA LOCAL INFILE ... IGNORE` inside the batch's transaction: each row is written once,
into its final table. The client may read only from that folder. Where the server has it off
(MySQL 8's default), multi-row INSERTs of the same rows are the fallback.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import mysql.connector
import pyarrow as pa
import pyarrow.compute as pc

from spark_app.common.database import DatabaseSettings
from spark_app.sink.batch import EVENT_COLUMNS, LINEAGE_COLUMNS, BatchKey, MinuteTotal
from spark_app.sink.dialect import Dialect, RowsMissingError
from spark_app.sink.drivers import open_connection
from spark_app.sink.mysql import (
    DUPLICATE_KEY,
    PERMISSION_ERRNOS,
    ROW_REFUSAL_ERRNOS,
    TRANSIENT_ERRNOS,
)
from spark_app.sink.rows import (
    CHUNK_ROWS,
    REJECTED_INSERT_COLUMNS,
    minute_values,
    rejected_rows,
    rows_of,
)
from spark_app.sink.schema import WRITER_PRIVILEGES
from spark_app.sink.textformat import encode

log = logging.getLogger(__name__)

LOAD_PATH = "load-data"
INSERT_PATH = "insert"
# On the load path, a chunk of fewer rows is inserted instead: LOAD DATA LOCAL's exchange of
# the file costs a fixed ~40 ms with the pure-Python client (its last packet waits for the
# server's delayed ACK), more than a multi-row INSERT of a live batch's few rows.
LOAD_MIN_ROWS = 1_000


class LoadWarningError(RuntimeError):
    """LOAD DATA changed a value instead of loading it as given; the batch was rolled back."""


# The events' columns in the load file; the batch's lineage is set by the statement.
_LOADED = EVENT_COLUMNS + LINEAGE_COLUMNS
_LOADED_ONE_FILE = tuple(name for name in _LOADED if name != "source_file")


class MySQLDialect(Dialect):
    """MySQL 8 and MariaDB 10.6+."""

    kind = "mysql"
    # InnoDB keeps a table's rows in its primary key's B-tree. (PostgreSQL's heap has no order:
    # there, only the key's index would gain, and the sort cost more than it saved.)
    clustered_by_id = True

    def __init__(self, settings: DatabaseSettings, load_dir: Path | None = None) -> None:
        super().__init__(settings)
        self.load_dir = load_dir or Path(tempfile.mkdtemp(prefix="ingest-load-"))
        os.chmod(self.load_dir, 0o700)
        self.use_load = False
        self.load_min_rows = LOAD_MIN_ROWS

    def connect(self) -> Any:
        # The client reads local files from the load folder only, whatever a server asks for.
        return open_connection(self.settings, allow_local_infile_in_path=str(self.load_dir))

    def batch_connection(self) -> Any:
        # Lock waits end within 60 s, as does a read or write to a peer that went away; an
        # open transaction of a driver that died is rolled back within 5 minutes (the
        # committer reconnects before its own connection can idle that long).
        connection = self.connect()
        connection.cursor().execute(
            "SET SESSION innodb_lock_wait_timeout = 60, net_read_timeout = 60,"
            " net_write_timeout = 60, wait_timeout = 300"
        )
        return connection

    def detect_write_path(self) -> str:
        """Use LOAD DATA LOCAL where the server allows it; say which path runs."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT @@GLOBAL.local_infile")
            row = cursor.fetchone()
            self.use_load = bool(row and int(row[0]))
        finally:
            connection.close()
        return self.write_path()

    def write_path(self) -> str:
        return LOAD_PATH if self.use_load else INSERT_PATH

    def close(self) -> None:
        """Remove the private load folder."""
        shutil.rmtree(self.load_dir, ignore_errors=True)

    def is_row_refusal(self, exc: BaseException) -> bool:
        if isinstance(exc, LoadWarningError | RowsMissingError):
            return True
        return isinstance(exc, mysql.connector.Error) and exc.errno in ROW_REFUSAL_ERRNOS

    def is_duplicate_key(self, exc: BaseException) -> bool:
        return isinstance(exc, mysql.connector.Error) and exc.errno == DUPLICATE_KEY

    def refusal_message(self, exc: BaseException) -> str:
        if isinstance(exc, LoadWarningError):
            return str(exc)[:255]
        if isinstance(exc, mysql.connector.Error) and exc.msg:
            return f"{exc.errno} {exc.msg}"[:255]
        return super().refusal_message(exc)

    def error_code(self, exc: BaseException) -> str | None:
        if isinstance(exc, mysql.connector.Error) and exc.errno is not None:
            return str(exc.errno)
        return None

    def is_transient(self, exc: BaseException) -> bool:
        if not isinstance(exc, mysql.connector.Error):
            return False
        if exc.errno in TRANSIENT_ERRNOS:
            return True
        # A connection lost before the server said why has no error number.
        return exc.errno in (None, -1) and isinstance(
            exc, mysql.connector.InterfaceError | mysql.connector.OperationalError
        )

    def is_permission_error(self, exc: BaseException) -> bool:
        return isinstance(exc, mysql.connector.Error) and exc.errno in PERMISSION_ERRNOS

    def grant_statements(self, writer: str | None, reader: str | None) -> list[str]:
        database = self.settings.database
        statements = []
        if writer is not None:
            statements += [
                f"GRANT {rights} ON `{database}`.`{table}` TO '{writer}'@'%'"
                for table, rights in WRITER_PRIVILEGES.items()
            ]
        if reader is not None:
            statements.append(f"GRANT SELECT ON `{database}`.* TO '{reader}'@'%'")
        return statements

    def schema_version(self, connection: Any) -> int:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            " AND table_name IN ('schema_migrations', 'events')"
        )
        tables = {str(row[0]) for row in cursor.fetchall()}
        if "schema_migrations" in tables:
            cursor.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            row = cursor.fetchone()
            version = int(row[0]) if row else 0
        else:
            # Tables made by the unversioned schema.sql of the first release are version 1.
            version = 1 if "events" in tables else 0
        connection.rollback()
        return version

    def begin(self, connection: Any) -> None:
        connection.start_transaction()

    def load_events(
        self, connection: Any, key: BatchKey, events: pa.Table, now: datetime
    ) -> pa.Table:
        if events.num_rows == 0:
            return events
        if not self.use_load or events.num_rows < self.load_min_rows:
            inserted = self._insert_events(connection, key, rows_of(events, _LOADED), now)
        else:
            # A chunk of one file (a large file's chunks, a small file's batch) names it once
            # in the statement rather than on every line: less to encode, send and parse.
            files = pc.unique(events.column("source_file"))
            one_file = len(files) == 1
            columns = _LOADED_ONE_FILE if one_file else _LOADED
            inserted = self._load(
                connection,
                key,
                "IGNORE INTO TABLE events",
                columns,
                "query_id = %s, batch_id = %s, ingested_at = %s"
                + (", source_file = %s" if one_file else ""),
                encode(events, columns),
                events.num_rows,
                now,
                (files[0].as_py(),) if one_file else (),
            )
        if inserted == events.num_rows:
            return events
        written = self.written_of(connection, key, events)
        if written.num_rows != inserted:
            raise LoadWarningError(
                f"{inserted} events inserted but {written.num_rows} are stored as written"
            )
        return written

    def insert_rejected(
        self, connection: Any, key: BatchKey, rejected: pa.Table, now: datetime
    ) -> int:
        if rejected.num_rows == 0:
            return 0
        if not self.use_load or rejected.num_rows < self.load_min_rows:
            return super().insert_rejected(connection, key, rejected, now)
        loaded = self._load(
            connection,
            key,
            "INTO TABLE events_rejected",
            REJECTED_INSERT_COLUMNS[:5],
            "query_id = %s, batch_id = %s, rejected_at = %s",
            encode(rejected_rows(rejected), REJECTED_INSERT_COLUMNS[:5]),
            rejected.num_rows,
            now,
        )
        if loaded != rejected.num_rows:
            raise LoadWarningError(f"{loaded} of {rejected.num_rows} rejected rows loaded")
        return loaded

    def _load(
        self,
        connection: Any,
        key: BatchKey,
        into: str,
        columns: Sequence[str],
        assignments: str,
        data: bytes,
        rows: int,
        now: datetime,
        values: tuple[Any, ...] = (),
    ) -> int:
        """LOAD DATA LOCAL of `data` (textformat's lines) from the private folder; rows loaded.

        Only the fixed table and column names of this module are put into the statement.
        """
        path = self.load_dir / f"batch-{key.batch_id}.tsv"
        path.write_bytes(data)
        try:
            cursor = connection.cursor()
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s {into} CHARACTER SET utf8mb4"
                " FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
                f" ({', '.join(columns)}) SET {assignments}",
                (str(path), key.query_id, key.batch_id, now, *values),
            )
            loaded = int(cursor.rowcount)
            self._check_only_duplicates(connection, sent=rows, inserted=loaded)
        finally:
            path.unlink(missing_ok=True)
        return loaded

    def _check_only_duplicates(self, connection: Any, *, sent: int, inserted: int) -> None:
        """IGNORE also turns refused values (a CHECK, a conversion) into warnings and skips the
        row: allow duplicate keys only. (Rows skipped past the warnings shown are caught by
        written_of, which finds them neither inserted nor already stored.)"""
        cursor = connection.cursor()
        cursor.execute("SHOW COUNT(*) WARNINGS")
        row = cursor.fetchone()
        warnings = int(row[0]) if row else 0
        if warnings == 0 and sent == inserted:
            return
        cursor.execute("SHOW WARNINGS LIMIT 5")
        other = [f"{code} {text}" for _, code, text in cursor.fetchall() if code != DUPLICATE_KEY]
        if warnings == sent - inserted and not other:
            return
        raise LoadWarningError(
            "; ".join(other)
            if other
            else f"{warnings} warning(s) for {sent - inserted} rows not inserted"
        )

    def _insert_events(
        self, connection: Any, key: BatchKey, rows: list[tuple[Any, ...]], now: datetime
    ) -> int:
        """The fallback: multi-row INSERT IGNOREs, checked like the load (no UPDATE right)."""
        columns = (*EVENT_COLUMNS, *LINEAGE_COLUMNS, "query_id", "batch_id", "ingested_at")
        names = ", ".join(columns)
        marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        inserted = 0
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            cursor = connection.cursor()
            cursor.execute(
                f"INSERT IGNORE INTO events ({names}) VALUES {', '.join([marks] * len(chunk))}",
                [value for row in chunk for value in (*row, key.query_id, key.batch_id, now)],
            )
            added = int(cursor.rowcount)
            self._check_only_duplicates(connection, sent=len(chunk), inserted=added)
            inserted += added
        return inserted

    def add_minute_rows(self, connection: Any, totals: list[MinuteTotal]) -> None:
        if not totals:
            return
        cursor = connection.cursor()
        marks = ", ".join(["(%s, %s, %s, %s)"] * len(totals))
        cursor.execute(
            "INSERT INTO events_per_minute (minute_start, event_type, events, price_total)"
            f" VALUES {marks} ON DUPLICATE KEY UPDATE"
            " events = events + VALUES(events), price_total = price_total + VALUES(price_total)",
            minute_values(totals),
        )

    def insert_missing(
        self, connection: Any, table: str, key_column: str, ids: list[str], now: datetime
    ) -> int:
        added = 0
        for start in range(0, len(ids), CHUNK_ROWS):
            chunk = ids[start : start + CHUNK_ROWS]
            cursor = connection.cursor()
            cursor.execute(
                f"INSERT INTO {table} ({key_column}, is_placeholder, updated_at) VALUES "
                + ", ".join(["(%s, TRUE, %s)"] * len(chunk))
                + f" ON DUPLICATE KEY UPDATE {key_column} = {key_column}",
                [value for ident in chunk for value in (ident, now)],
            )
            added += cursor.rowcount
        return added
