"""The foreachBatch handler: collect the batch to the driver once, commit it exactly once.

The rows reach the one connection that commits through the driver, as Arrow (one Spark action
per batch): the driver already holds that connection, batches are bounded by
--max-files-per-trigger, and no staging table or shared folder is needed on a cluster.

With a staging folder (the default for a local checkpoint) the commit runs in the background:
the handler collects batch N+1 while batch N is loaded. It returns only once its batch is
durably staged, and waits for the previous commit first, so at most one batch is in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

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
from spark_app.sink.sourcelog import batch_files
from spark_app.sink.staging import StagedBatch, Staging

log = logging.getLogger(__name__)

QUERY_ID_PROPERTY = "sql.streaming.queryId"

# Test-only hooks, read once at start: hold each batch for this many seconds after it is
# collected (before the database commit), or after the commit (before Spark commits its
# offsets), so a test can kill the driver inside those windows deterministically.
PAUSE_BEFORE_COMMIT_ENV = "INGEST_TEST_PAUSE_BEFORE_COMMIT"
PAUSE_AFTER_COMMIT_ENV = "INGEST_TEST_PAUSE_AFTER_COMMIT"
# ... or inside the transaction, after the rows are written and before the batch record.
PAUSE_MID_COMMIT_ENV = "INGEST_TEST_PAUSE_MID_COMMIT"
# With the background commit: after the batch is staged, before foreachBatch returns (Spark has
# not committed its offsets); or in the background, before the transaction begins.
PAUSE_AFTER_STAGE_ENV = "INGEST_TEST_PAUSE_AFTER_STAGE"
PAUSE_BEFORE_LOAD_ENV = "INGEST_TEST_PAUSE_BEFORE_LOAD"

T = TypeVar("T")


@dataclass(frozen=True)
class Pauses:
    """Pauses around the commit, for kill tests; zero in production."""

    before_commit: float = 0.0
    mid_commit: float = 0.0
    after_commit: float = 0.0
    after_stage: float = 0.0
    before_load: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Pauses:
        return cls(
            before_commit=float(environ.get(PAUSE_BEFORE_COMMIT_ENV) or 0),
            mid_commit=float(environ.get(PAUSE_MID_COMMIT_ENV) or 0),
            after_commit=float(environ.get(PAUSE_AFTER_COMMIT_ENV) or 0),
            after_stage=float(environ.get(PAUSE_AFTER_STAGE_ENV) or 0),
            before_load=float(environ.get(PAUSE_BEFORE_LOAD_ENV) or 0),
        )

    def mid(self) -> None:
        """The pause inside the transaction."""
        self.hold(self.mid_commit, "test pause inside the commit")

    @staticmethod
    def hold(seconds: float, what: str) -> None:
        if seconds:
            log.warning("%s", what)
            time.sleep(seconds)


class SinkUnavailableError(RuntimeError):
    """The database kept failing after every retry of a batch, or refused it for good."""


class BatchWriter:
    """Commits batches through one reused connection, retrying what may pass.

    Without `staging` each batch is committed inside foreachBatch. With it, the commit runs on
    one background thread (see the module's docstring); `recover()` must run before the query
    starts and `wait()` after it ends.
    """

    def __init__(
        self,
        dialect: Dialect,
        retry: RetryPolicy,
        run_id: str,
        pauses: Pauses | None = None,
        staging: Staging | None = None,
    ) -> None:
        self.dialect = dialect
        self.retry = retry
        self.run_id = run_id
        self.pauses = pauses or Pauses()
        self.staging = staging
        self.failure: str | None = None
        # Set when a background commit gave up: the stream must stop.
        self.failed = threading.Event()
        self._connection: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None

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
        """Stop the background thread (after wait()) and close the connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._drop_connection()

    def _commit(
        self,
        key: BatchKey,
        table: pa.Table,
        listed: list[FileEntry],
        attempt: int,
        started: float,
        stage_ms: int,
    ) -> BatchRecord | None:
        """Prepare the collected rows and commit them with their batch record."""
        record = commit_batch(
            self.dialect,
            self._connect(),
            key,
            prepare(table, listed),
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
        self.pauses.hold(self.pauses.after_commit, f"batch {key.batch_id}: test pause after commit")
        return record

    def _is_committed(self, key: BatchKey) -> bool:
        if self.dialect.is_committed(self._connect(), key):
            log.info("batch %d: already committed, replay skipped", key.batch_id)
            return True
        return False

    def _attempt(
        self,
        key: BatchKey,
        collect: Callable[[], pa.Table],
        listed: list[FileEntry],
        attempt: int,
    ) -> BatchRecord | None:
        started = time.monotonic()
        if self._is_committed(key):
            return None
        table = collect()
        stage_ms = int((time.monotonic() - started) * 1000)
        self.pauses.hold(
            self.pauses.before_commit, f"batch {key.batch_id}: test pause before commit"
        )
        return self._commit(key, table, listed, attempt, started, stage_ms)

    def _is_transient(self, exc: BaseException) -> bool:
        transient = self.dialect.is_transient(exc)
        if transient:
            self._drop_connection()
        return transient

    def _with_retries(self, key: BatchKey, action: Callable[[int], T]) -> T:
        """Run `action(attempt)`, retrying transient database failures with exponential
        backoff and jitter; a final failure sets `failure` and raises SinkUnavailableError."""
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
                    return action(attempt.retry_state.attempt_number)
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
        raise AssertionError("unreachable: tenacity either returns or raises")

    def write(
        self,
        key: BatchKey,
        collect: Callable[[], pa.Table],
        listed: list[FileEntry] | None = None,
    ) -> BatchRecord | None:
        """Commit one batch (in the background when staging); replays are skipped."""
        if self.staging is not None:
            self._stage(self.staging, key, collect, listed or [])
            return None
        return self._with_retries(
            key, lambda attempt: self._attempt(key, collect, listed or [], attempt)
        )

    # --- the background commit ------------------------------------------------------------

    def _stage(
        self,
        staging: Staging,
        key: BatchKey,
        collect: Callable[[], pa.Table],
        listed: list[FileEntry],
    ) -> None:
        started = time.monotonic()
        if self._in_flight is None and self._with_retries(key, lambda _: self._is_committed(key)):
            return  # only a run's first batch can be a replay; nothing is in flight then
        table = collect()
        stage_ms = int((time.monotonic() - started) * 1000)
        self.pauses.hold(
            self.pauses.before_commit, f"batch {key.batch_id}: test pause before commit"
        )
        self.wait()
        path = staging.save(key, table, listed)
        self.pauses.hold(self.pauses.after_stage, f"batch {key.batch_id}: test pause after staging")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="commit")
        staged = StagedBatch(path, key, table, listed)
        self._in_flight = self._executor.submit(self._commit_staged, staged, started, stage_ms)

    def _commit_staged(self, staged: StagedBatch, started: float, stage_ms: int) -> None:
        try:
            self.pauses.hold(
                self.pauses.before_load, f"batch {staged.key.batch_id}: test pause before load"
            )
            self._commit_with_retries(staged, started, stage_ms)
        except BaseException:
            self.failed.set()
            raise

    def _commit_with_retries(self, staged: StagedBatch, started: float, stage_ms: int) -> None:
        """Commit a staged batch, then forget its file (a recorded batch is skipped)."""
        assert self.staging is not None

        def attempt(number: int) -> BatchRecord | None:
            return self._commit(staged.key, staged.table, staged.listed, number, started, stage_ms)

        self._with_retries(staged.key, attempt)
        self.staging.remove(staged.path)

    def wait(self) -> None:
        """Wait for the batch in flight (before the next is staged, and after the query ends);
        raises SinkUnavailableError if its commit failed (the stream must stop)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def recover(self) -> int:
        """Before the query: commit every staged batch (recorded ones are skipped); how many."""
        if self.staging is None:
            return 0
        paths = self.staging.pending()
        for path in paths:
            staged = self.staging.load(path)
            log.info("batch %d: staged before a stop, committing it first", staged.key.batch_id)
            self._commit_with_retries(staged, time.monotonic(), 0)
        return len(paths)


def write_batch(
    batch_df: Any, batch_id: int, *, writer: BatchWriter, checkpoint_dir: str | None = None
) -> None:
    """foreachBatch handler: one micro-batch, exactly once."""
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
    if not query_id:
        raise RuntimeError("write_batch must run inside a streaming query's foreachBatch")
    listed = batch_files(checkpoint_dir, batch_id) if checkpoint_dir else []
    writer.write(BatchKey(query_id=query_id, batch_id=batch_id), batch_df.toArrow, listed)
