"""The foreachBatch handler: collect the batch to the driver once, commit it exactly once.

The rows reach the one connection that commits through the driver, as Arrow (one Spark action
per batch): the driver already holds that connection, batches are bounded by
--max-files-per-trigger, and no staging table or shared folder is needed on a cluster.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from spark_app.common.errors import summarize
from spark_app.job.config import RetryPolicy
from spark_app.sink.batch import BatchKey, FileEntry, prepare
from spark_app.sink.dialect import BatchRecord, Dialect
from spark_app.sink.protocol import commit_batch

log = logging.getLogger(__name__)

QUERY_ID_PROPERTY = "sql.streaming.queryId"

# Test-only hooks, read once at start: hold each batch for this many seconds after it is
# collected (before the database commit), or after the commit (before Spark commits its
# offsets), so a test can kill the driver inside those windows deterministically.
PAUSE_BEFORE_COMMIT_ENV = "INGEST_TEST_PAUSE_BEFORE_COMMIT"
PAUSE_AFTER_COMMIT_ENV = "INGEST_TEST_PAUSE_AFTER_COMMIT"
# ... or inside the transaction, after the rows are written and before the batch record.
PAUSE_MID_COMMIT_ENV = "INGEST_TEST_PAUSE_MID_COMMIT"


@dataclass(frozen=True)
class Pauses:
    """Pauses around the commit, for kill tests; zero in production."""

    before_commit: float = 0.0
    mid_commit: float = 0.0
    after_commit: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Pauses:
        return cls(
            before_commit=float(environ.get(PAUSE_BEFORE_COMMIT_ENV) or 0),
            mid_commit=float(environ.get(PAUSE_MID_COMMIT_ENV) or 0),
            after_commit=float(environ.get(PAUSE_AFTER_COMMIT_ENV) or 0),
        )

    def mid(self) -> None:
        """The pause inside the transaction."""
        if self.mid_commit:
            log.warning("test pause inside the commit")
            time.sleep(self.mid_commit)


class SinkUnavailableError(RuntimeError):
    """The database kept failing after every retry of a batch, or refused it for good."""


class BatchWriter:
    """Commits batches through one reused connection, retrying what may pass."""

    def __init__(
        self, dialect: Dialect, retry: RetryPolicy, run_id: str, pauses: Pauses | None = None
    ) -> None:
        self.dialect = dialect
        self.retry = retry
        self.run_id = run_id
        self.pauses = pauses or Pauses()
        self.failure: str | None = None
        self._connection: Any = None

    def _connect(self) -> Any:
        if self._connection is None:
            self._connection = self.dialect.connect()
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass
            self._connection = None

    def close(self) -> None:
        """Close the connection."""
        self._drop_connection()

    def _attempt(
        self,
        key: BatchKey,
        collect: Callable[[], pa.Table],
        listed: list[FileEntry],
        attempt: int,
    ) -> BatchRecord | None:
        started = time.monotonic()
        connection = self._connect()
        if self.dialect.is_committed(connection, key):
            log.info("batch %d: already committed, replay skipped", key.batch_id)
            return None
        prepared = prepare(collect(), listed)
        stage_ms = int((time.monotonic() - started) * 1000)
        if self.pauses.before_commit:
            log.warning("batch %d: test pause before commit", key.batch_id)
            time.sleep(self.pauses.before_commit)
        record = commit_batch(
            self.dialect,
            connection,
            key,
            prepared,
            run_id=self.run_id,
            stage_ms=stage_ms,
            retries=attempt - 1,
            started=started,
            clock=time.monotonic,
            rows_written=self.pauses.mid,
        )
        if record is None:
            log.info("batch %d: committed by an earlier attempt, skipped", key.batch_id)
            return None
        log.info(
            "batch %d: %d file(s), %d read, %d written, %d duplicate, %d rejected in %d ms"
            " (collect %d, commit %d%s)",
            key.batch_id,
            record.files,
            record.rows_read,
            record.rows_written,
            record.rows_duplicate,
            record.rows_rejected,
            record.total_ms,
            record.stage_ms,
            record.commit_ms,
            f", {record.retries} retries" if record.retries else "",
        )
        if self.pauses.after_commit:
            log.warning("batch %d: test pause after commit", key.batch_id)
            time.sleep(self.pauses.after_commit)
        return record

    def _is_transient(self, exc: BaseException) -> bool:
        transient = self.dialect.is_transient(exc)
        if transient:
            self._drop_connection()
        return transient

    def write(
        self,
        key: BatchKey,
        collect: Callable[[], pa.Table],
        listed: list[FileEntry] | None = None,
    ) -> BatchRecord | None:
        """Commit one batch, retrying transient failures with exponential backoff and jitter."""
        policy = self.retry

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "batch %d: attempt %d failed (%s); retrying in %.1f s",
                key.batch_id,
                state.attempt_number,
                summarize(error) if error else "?",
                delay,
            )

        retrying = Retrying(
            stop=stop_after_attempt(policy.retries + 1),
            wait=wait_exponential_jitter(
                initial=policy.base_delay,
                exp_base=policy.multiplier,
                max=policy.max_delay,
                jitter=policy.base_delay,
            ),
            retry=retry_if_exception(self._is_transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(
                        key, collect, listed or [], attempt.retry_state.attempt_number
                    )
        except Exception as exc:
            self._drop_connection()
            if self.dialect.error_code(exc) is None:
                raise  # not the database (Spark, the file system): main() reports it whole
            attempts = retrying.statistics.get("attempt_number", 1)
            where = f"{self.dialect.settings.label} at {self.dialect.settings.host}:" + str(
                self.dialect.settings.port
            )
            if self.dialect.is_transient(exc):
                self.failure = (
                    f"batch {key.batch_id}: {where} failed {attempts} time(s), giving up:"
                    f" {summarize(exc)}"
                )
            else:
                self.failure = (
                    f"batch {key.batch_id}: {where} refused the batch, nothing of it was"
                    f" written: {summarize(exc)}"
                )
            raise SinkUnavailableError(self.failure) from None
        return None


def source_log_files(checkpoint_dir: str, batch_id: int) -> list[FileEntry]:
    """The files the file source put in a batch, from its log in a local checkpoint.

    Lines after the version line are JSON: path, timestamp (ms) and batchId; every tenth log is
    a `.compact` file holding the earlier batches too. A remote checkpoint gives no list.
    """
    if "://" in checkpoint_dir and not checkpoint_dir.startswith("file:"):
        return []
    folder = Path(checkpoint_dir.removeprefix("file://").removeprefix("file:")) / "sources" / "0"
    for name in (str(batch_id), f"{batch_id}.compact"):
        try:
            lines = (folder / name).read_text("utf-8").splitlines()[1:]
        except OSError:
            continue
        entries = [json.loads(line) for line in lines if line.strip()]
        return [
            FileEntry(
                _as_source_path(str(entry["path"])),
                datetime.fromtimestamp(int(entry["timestamp"]) / 1000, UTC).replace(tzinfo=None),
                0,
            )
            for entry in entries
            if int(entry.get("batchId", batch_id)) == batch_id
        ]
    return []


def _as_source_path(path: str) -> str:
    """The log's `file:///x` as the scan names it (`file:/x`)."""
    return "file:/" + path.removeprefix("file:///") if path.startswith("file:///") else path


def write_batch(
    batch_df: Any, batch_id: int, *, writer: BatchWriter, checkpoint_dir: str | None = None
) -> None:
    """foreachBatch handler: one micro-batch, exactly once."""
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
    if not query_id:
        raise RuntimeError("write_batch must run inside a streaming query's foreachBatch")
    listed = source_log_files(checkpoint_dir, batch_id) if checkpoint_dir else []
    writer.write(BatchKey(query_id=query_id, batch_id=batch_id), batch_df.toArrow, listed)
