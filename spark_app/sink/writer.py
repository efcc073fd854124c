"""The foreachBatch writer: executors stage a batch over JDBC, the driver commits it once.

A micro-batch may run more than once (Spark's foreachBatch is at-least-once: a crash between
the MySQL commit and the checkpoint commit replays it). Exactly-once comes from the batch
record: the staged rows move into `events`/`events_rejected` in the same transaction that
inserts the batch's row in `ingest_batches`, and a batch already recorded there is skipped.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from spark_app.common.errors import is_transient, summarize
from spark_app.job.config import JdbcTuning, MySQLSettings, RetryPolicy
from spark_app.parse.validate import to_staging
from spark_app.sink import mysql as db

log = logging.getLogger(__name__)

QUERY_ID_PROPERTY = "sql.streaming.queryId"

# Test-only hooks: hold each batch for this many seconds after its rows are staged (before the
# MySQL commit), or after the MySQL commit (before Spark commits its checkpoint), so a test can
# kill the driver inside those windows deterministically.
PAUSE_BEFORE_COMMIT_ENV = "INGEST_TEST_PAUSE_BEFORE_COMMIT"
PAUSE_AFTER_COMMIT_ENV = "INGEST_TEST_PAUSE_AFTER_COMMIT"


class SinkUnavailableError(RuntimeError):
    """The database kept failing after every retry of a batch."""


class StagingPurger:
    """Deletes committed batches' staged rows on a background thread, off the batch's path.

    The delete overlaps the next batch's staging; that batch's commit waits for it, so the two
    never contend inside a transaction. A failed purge is logged and made good by the next one,
    which covers every earlier batch of the query.
    """

    def __init__(self, mysql: MySQLSettings) -> None:
        self.mysql = mysql
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staging-purge")
        self._pending: Future[None] | None = None

    def submit(self, key: db.BatchKey) -> None:
        """Purge the staged rows of `key` and earlier batches, in the background."""
        self.wait()
        self._pending = self._pool.submit(self._purge, key)

    def _purge(self, key: db.BatchKey) -> None:
        try:
            with db.connect(self.mysql) as connection:
                db.clear_staging(connection, key, earlier_too=True)
        except Exception as exc:
            log.warning("batch %d: staged rows kept for now: %s", key.batch_id, summarize(exc))

    def wait(self) -> None:
        """Return once the last purge asked for has ended."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self) -> None:
        """Finish the pending purge and stop the thread."""
        self.wait()
        self._pool.shutdown()


@dataclass
class SinkContext:
    """What the batch writer needs; bound to it with functools.partial."""

    mysql: MySQLSettings
    jdbc: JdbcTuning
    retry: RetryPolicy
    driver_class: str
    run_id: str
    # Set when the writer gives up, so main() can report it in one line.
    fatal: list[str] = field(default_factory=list)
    purger: StagingPurger = field(init=False)

    def __post_init__(self) -> None:
        self.purger = StagingPurger(self.mysql)

    def close(self) -> None:
        """Finish background work (the last purge of staged rows)."""
        self.purger.close()


def jdbc_properties(settings: MySQLSettings, tuning: JdbcTuning, driver: str) -> dict[str, str]:
    """Connection properties of the executors' staging write (the password is not in the URL)."""
    return {
        "user": settings.user,
        "password": settings.password,
        "driver": driver,
        "batchsize": str(tuning.batch_size),
        # One multi-row INSERT per JDBC batch instead of one round trip per row.
        "rewriteBatchedStatements": str(tuning.rewrite_batched_statements).lower(),
        "isolationLevel": "READ_COMMITTED",
    }


def stage_batch(staging: DataFrame, context: SinkContext) -> None:
    """Executors write the batch's rows into events_staging (one transaction per partition)."""
    if context.jdbc.write_partitions:
        staging = staging.coalesce(context.jdbc.write_partitions)
    staging.write.jdbc(
        context.mysql.jdbc_url,
        db.STAGING_TABLE,
        mode="append",
        properties=jdbc_properties(context.mysql, context.jdbc, context.driver_class),
    )


def _test_pause(variable: str, batch_id: int) -> None:
    seconds = float(os.environ.get(variable) or 0)
    if seconds > 0:
        log.warning("batch %d: test hook %s, pausing %.1f s", batch_id, variable, seconds)
        time.sleep(seconds)


def _attempt(batch_df: DataFrame, key: db.BatchKey, context: SinkContext, attempt: int) -> None:
    started = time.monotonic()
    with db.connect(context.mysql) as connection:
        if db.is_committed(connection, key):
            db.clear_staging(connection, key)
            log.info("batch %d: already committed, replay skipped", key.batch_id)
            return
        db.clear_staging(connection, key)
    stage_batch(to_staging(batch_df, key.query_id, key.batch_id), context)
    stage_ms = int((time.monotonic() - started) * 1000)
    _test_pause(PAUSE_BEFORE_COMMIT_ENV, key.batch_id)
    context.purger.wait()
    with db.connect(context.mysql) as connection:
        try:
            counts, timings = db.commit_batch(
                connection, key, context.run_id, stage_ms, attempt - 1, started, time.monotonic
            )
        except db.BatchAlreadyCommitted:
            log.info("batch %d: committed by an earlier attempt, skipped", key.batch_id)
            db.clear_staging(connection, key)
            return
    context.purger.submit(key)
    log.info(
        "batch %d: %d file(s), %d read, %d written, %d duplicate, %d rejected in %d ms"
        " (stage %d, commit %d%s)",
        key.batch_id,
        counts.files,
        counts.rows_read,
        counts.rows_written,
        counts.rows_duplicate,
        counts.rows_rejected,
        int((time.monotonic() - started) * 1000),
        timings.stage_ms,
        timings.commit_ms,
        f", {timings.retries} retries" if timings.retries else "",
    )
    _test_pause(PAUSE_AFTER_COMMIT_ENV, key.batch_id)


def write_batch(batch_df: DataFrame, batch_id: int, *, context: SinkContext) -> None:
    """foreachBatch handler: stage and commit one micro-batch, retrying transient failures."""
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
    if not query_id:
        raise RuntimeError("write_batch must run inside a streaming query's foreachBatch")
    key = db.BatchKey(query_id=query_id, batch_id=batch_id)
    policy = context.retry

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "batch %d: attempt %d failed (%s); retrying in %.1f s",
            batch_id,
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
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                _attempt(batch_df, key, context, attempt.retry_state.attempt_number)
    except Exception as exc:
        attempts = retrying.statistics.get("attempt_number", 1)
        message = (
            f"batch {batch_id}: MySQL at {context.mysql.host}:{context.mysql.port} failed"
            f" {attempts} time(s), giving up: {summarize(exc)}"
        )
        context.fatal.append(message)
        raise SinkUnavailableError(message) from None
