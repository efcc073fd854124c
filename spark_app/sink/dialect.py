"""What the batch protocol needs from a database, and the SQL both databases share.

The protocol (protocol.py) is written once against `Dialect`; mysql/ and postgresql/ hold what
differs: the bulk load, upsert syntax, error codes and the schema's version and grants
(schema.py applies the migrations). Every value is a bound parameter; the only names put into
SQL are the fixed table and column names here.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from spark_app.common.database import DatabaseSettings
from spark_app.sink.batch import BatchKey, FileEntry, MinuteTotal
from spark_app.sink.drivers import open_connection
from spark_app.sink.rows import (
    CHUNK_ROWS,
    REJECTED_INSERT_COLUMNS,
    BatchRecord,
    chunked,
    rejected_rows,
    rows_of,
)
from spark_app.sink.schema import SchemaSetup


class RowsMissingError(RuntimeError):
    """An insert kept neither some rows nor the ids they repeat: the database dropped them."""


class Dialect(SchemaSetup):
    """The shared, portable SQL; subclasses fill in what their database does differently."""

    kind = ""
    # Appended to a text column compared with <, so that names compare as bytes on every server.
    byte_order = ""
    # Whether `events` is stored in event_id order (a clustered primary key): a large batch's
    # events are then written in that order (job/idorder.py).
    clustered_by_id = False

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings

    # --- connections and errors -----------------------------------------------------------

    def connect(self) -> Any:
        """A new connection, autocommit off, session time zone UTC."""
        return open_connection(self.settings)

    def batch_connection(self) -> Any:
        """A connection for the stream's batches: connect() with limits on lock waits,
        statements and dead peers, so that no failure holds a batch's locks for long."""
        return self.connect()

    def close(self) -> None:  # a hook: only MySQL's load folder needs it
        """Release what the dialect holds besides connections."""

    @abstractmethod
    def error_code(self, exc: BaseException) -> str | None:
        """The database's code for an error of its driver, None for anything else."""

    @abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """Whether retrying may help: a lost or refused connection, a deadlock, a timeout."""

    # --- the batch transaction ------------------------------------------------------------

    @abstractmethod
    def begin(self, connection: Any) -> None:
        """Start the batch's transaction."""

    def is_committed(self, connection: Any, key: BatchKey) -> bool:
        """True when the batch is recorded already (a replay after a crash, or a retry)."""
        cursor = connection.cursor()
        cursor.execute(
            "SELECT 1 FROM ingest_batches WHERE query_id = %s AND batch_id = %s",
            (key.query_id, key.batch_id),
        )
        found = cursor.fetchone() is not None
        connection.rollback()
        return found

    def is_recorded(self, connection: Any, key: BatchKey) -> bool:
        """Inside the batch's transaction: whether the batch is recorded already.

        A plain read, no locking read: MySQL 8.4 lets `SELECT ... FOR UPDATE` run only with
        UPDATE, DELETE or LOCK TABLES, which the writer does not have. The claim is the batch
        record's primary key: a second writer of the same batch fails on it (record_batch).
        """
        cursor = connection.cursor()
        cursor.execute(
            "SELECT 1 FROM ingest_batches WHERE query_id = %s AND batch_id = %s",
            (key.query_id, key.batch_id),
        )
        return cursor.fetchone() is not None

    def savepoint(self, connection: Any) -> None:
        connection.cursor().execute("SAVEPOINT chunk")

    def rollback_to_savepoint(self, connection: Any) -> None:
        connection.cursor().execute("ROLLBACK TO SAVEPOINT chunk")

    def release_savepoint(self, connection: Any) -> None:
        connection.cursor().execute("RELEASE SAVEPOINT chunk")

    @abstractmethod
    def is_row_refusal(self, exc: BaseException) -> bool:
        """Whether the database refused the values of some rows (not the whole batch)."""

    @abstractmethod
    def is_duplicate_key(self, exc: BaseException) -> bool:
        """Whether an insert hit a primary or unique key that is already there."""

    def refusal_message(self, exc: BaseException) -> str:
        """The database's message for a refused row."""
        return " ".join(str(exc).split())[:255]

    @abstractmethod
    def load_events(
        self, connection: Any, key: BatchKey, events: pa.Table, now: datetime
    ) -> pa.Table:
        """Insert events (unique ids, key order); an id already in the table is kept.

        Returns the rows inserted.
        """

    def written_of(self, connection: Any, key: BatchKey, events: pa.Table) -> pa.Table:
        """After an insert that kept some existing ids: the rows of `events` it inserted (stored
        as this batch wrote them: same file and line). Raises RowsMissingError when some row is
        neither inserted nor already there (the database dropped it, e.g. IGNORE and a CHECK)."""
        stored: dict[str, tuple[str, int, str, int]] = {}
        ids = [str(value) for value in events.column("event_id").to_pylist()]
        for start in range(0, len(ids), CHUNK_ROWS):
            chunk = ids[start : start + CHUNK_ROWS]
            cursor = connection.cursor()
            cursor.execute(
                "SELECT event_id, source_file, source_line, query_id, batch_id FROM events"
                f" WHERE event_id IN ({', '.join(['%s'] * len(chunk))})",
                tuple(chunk),
            )
            for ident, path, line, query_id, batch_id in cursor.fetchall():
                stored[str(ident)] = (str(path), int(line), str(query_id), int(batch_id))
        keep = []
        for ident, path, line in rows_of(events, ("event_id", "source_file", "source_line")):
            found = stored.get(str(ident))
            if found is None:
                raise RowsMissingError(f"event {ident} was neither inserted nor already stored")
            keep.append(found == (str(path), int(line), key.query_id, key.batch_id))
        return events.filter(pa.array(keep, pa.bool_()))

    def insert_rows(
        self, connection: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> int:
        """Multi-row INSERTs of `rows`; returns the rows inserted."""
        inserted = 0
        names = ", ".join(columns)
        for chunk in chunked(rows):
            row_marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
            cursor = connection.cursor()
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES " + ", ".join([row_marks] * len(chunk)),
                [value for row in chunk for value in row],
            )
            inserted += cursor.rowcount
        return inserted

    def insert_rejected(
        self, connection: Any, key: BatchKey, rejected: pa.Table, now: datetime
    ) -> int:
        """One events_rejected row per quarantined line."""
        rows = [
            (*row, key.query_id, key.batch_id, now)
            for row in rows_of(rejected_rows(rejected), REJECTED_INSERT_COLUMNS[:5])
        ]
        return self.insert_rows(connection, "events_rejected", REJECTED_INSERT_COLUMNS, rows)

    def add_minute_totals(self, connection: Any, totals: list[MinuteTotal]) -> None:
        """Add per-minute counts and price sums to events_per_minute (chunked statements)."""
        for start in range(0, len(totals), CHUNK_ROWS):
            self.add_minute_rows(connection, totals[start : start + CHUNK_ROWS])

    @abstractmethod
    def add_minute_rows(self, connection: Any, totals: list[MinuteTotal]) -> None:
        """Add one statement's worth of per-minute totals to events_per_minute."""

    @abstractmethod
    def insert_missing(
        self, connection: Any, table: str, key_column: str, ids: list[str], now: datetime
    ) -> int:
        """Placeholder rows for ids the table does not hold yet; returns how many were added."""

    def upsert_entities(
        self,
        connection: Any,
        table: str,
        key_column: str,
        columns: Sequence[str],
        rows: pa.Table,
        now: datetime,
    ) -> None:
        """Real rows of users or products: the latest arrival of an id wins.

        A row replaces a placeholder, or a row that arrived earlier (file modification time,
        then file name, then line); an older arrival processed late changes nothing.
        """
        if rows.num_rows == 0:
            return
        ids = [str(value) for value in rows.column(key_column).to_pylist()]
        self.insert_missing(connection, table, key_column, ids, now)
        assignments = ", ".join(f"{name} = %s" for name in columns)
        cursor = connection.cursor()
        cursor.executemany(
            f"UPDATE {table} SET {assignments}, is_placeholder = FALSE, source_file = %s,"
            " file_modified = %s, source_line = %s, updated_at = %s"
            f" WHERE {key_column} = %s AND (is_placeholder"
            f" OR (file_modified, source_file{self.byte_order}, source_line) <= (%s, %s, %s))",
            [
                (*values, source_file, modified, line, now, ident, modified, source_file, line)
                for (*values, modified, source_file, line), ident in zip(
                    rows_of(rows, (*columns, "file_modified", "source_file", "source_line")),
                    ids,
                    strict=True,
                )
            ],
        )

    def record_files(
        self, connection: Any, key: BatchKey, files: list[FileEntry], now: datetime
    ) -> None:
        """One ingest_files row per file the batch read."""
        rows = [
            (key.query_id, key.batch_id, entry.path, entry.modified, entry.records, now)
            for entry in files
        ]
        columns = (
            "query_id", "batch_id", "source_file", "file_modified", "records", "committed_at",
        )  # fmt: skip
        self.insert_rows(connection, "ingest_files", columns, rows)

    def record_batch(self, connection: Any, record: BatchRecord) -> bool:
        """Insert the batch's row of ingest_batches: the replay guard and its accounting.

        False when another writer recorded the same batch first (its primary key).
        """
        cursor = connection.cursor()
        try:
            self._insert_record(cursor, record)
        except Exception as exc:
            if self.is_duplicate_key(exc):
                return False
            raise
        return True

    @staticmethod
    def _insert_record(cursor: Any, record: BatchRecord) -> None:
        cursor.execute(
            "INSERT INTO ingest_batches (query_id, batch_id, run_id, committed_at, files,"
            " rows_read, rows_written, rows_duplicate, rows_rejected, stage_ms, commit_ms,"
            " total_ms, rows_per_second, oldest_file_age_s, newest_file_age_s, retries,"
            " users_upserted, products_upserted, write_path)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                record.key.query_id,
                record.key.batch_id,
                record.run_id,
                record.committed_at,
                record.files,
                record.rows_read,
                record.rows_written,
                record.rows_duplicate,
                record.rows_rejected,
                record.stage_ms,
                record.commit_ms,
                record.total_ms,
                Decimal(str(record.rows_per_second)),
                _age(record.oldest_file_age_s),
                _age(record.newest_file_age_s),
                record.retries,
                record.users_upserted,
                record.products_upserted,
                record.write_path,
            ),
        )

    @abstractmethod
    def write_path(self) -> str:
        """The name of the bulk path in use, for the log and ingest_batches."""

    def detect_write_path(self) -> str:
        """Choose the fastest path this server allows; returns its name."""
        return self.write_path()


def _age(seconds: float | None) -> Decimal | None:
    return None if seconds is None else Decimal(f"{seconds:.3f}")
