"""Commits batches through one reused connection, retrying what may pass.

A transient failure (a lost connection, a deadlock, a server restarting) retries the whole
batch on a fresh connection with exponential backoff and jitter: its chunks are read again from
their files. Any other database error gives up at once. Either way the batch's transaction was
rolled back, so nothing of it is written, and `SinkUnavailableError` says what happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
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
from spark_app.sink.batch import BatchKey, FileEntry
from spark_app.sink.dialect import Dialect
from spark_app.sink.protocol import commit_batch
from spark_app.sink.rows import BatchRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

# A connection idle this long is replaced before a batch: the server may end sessions idle
# for 5 minutes (the batch connection's wait_timeout on MySQL).
IDLE_RECONNECT_SECONDS = 240.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for a batch whose database work fails."""

    retries: int = 3
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 60.0


class SinkUnavailableError(RuntimeError):
    """The database kept failing after every retry of a batch, or refused it as a whole."""


class Committer:
    """The batches of one run, each in its own transaction on a reused connection."""

    def __init__(self, dialect: Dialect, retry: RetryPolicy, run_id: str) -> None:
        self.dialect = dialect
        self.retry = retry
        self.run_id = run_id
        self._connection: Any = None
        self._used_at = 0.0

    def _connect(self) -> Any:
        now = time.monotonic()
        if self._connection is not None and now - self._used_at > IDLE_RECONNECT_SECONDS:
            self._drop_connection()
        if self._connection is None:
            self._connection = self.dialect.batch_connection()
        self._used_at = now
        return self._connection

    def warm(self) -> None:
        """Open the connection before the first batch needs it (a failure here is left to
        the first batch's retries)."""
        try:
            self._connect()
        except Exception as exc:
            self._drop_connection()
            log.warning("cannot connect yet: %s", summarize(exc))

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass
            self._connection = None

    def close(self) -> None:
        """Close the connection and whatever the dialect holds."""
        self._drop_connection()
        self.dialect.close()

    def is_committed(self, key: BatchKey) -> bool:
        """Whether the batch is recorded already (a replay after a crash)."""

        def check(_: int) -> bool:
            found = self.dialect.is_committed(self._connect(), key)
            if found:
                log.info("batch %d: already committed, replay skipped", key.batch_id)
            return found

        return self._with_retries(key, check)

    def commit(
        self,
        key: BatchKey,
        chunks: Callable[[], Iterable[pa.Table]],
        files: list[FileEntry],
        started: float,
    ) -> BatchRecord | None:
        """Commit one batch exactly once; None when it was committed already."""

        def attempt(number: int) -> BatchRecord | None:
            record = commit_batch(
                self.dialect,
                self._connect(),
                key,
                chunks(),
                files,
                run_id=self.run_id,
                retries=number - 1,
                started=started,
                clock=time.monotonic,
            )
            if record is None:
                log.info("batch %d: committed by an earlier attempt, skipped", key.batch_id)
            else:
                _log_record(record)
            return record

        return self._with_retries(key, attempt)

    def _is_transient(self, exc: BaseException) -> bool:
        transient = self.dialect.is_transient(exc)
        if transient:
            self._drop_connection()
        return transient

    def _with_retries(self, key: BatchKey, action: Callable[[int], T]) -> T:
        """Run `action(attempt)`, retrying transient database failures; a final failure
        raises SinkUnavailableError with one line that says why."""
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
            where = f"{self.dialect.settings.label} at {self.dialect.settings.address}"
            if self.dialect.is_transient(exc):
                failure = (
                    f"batch {key.batch_id}: {where} failed {attempts} time(s), giving up:"
                    f" {summarize(exc)}"
                )
            else:
                failure = (
                    f"batch {key.batch_id}: {where} refused the batch, nothing of it was"
                    f" written: {summarize(exc)}"
                )
            raise SinkUnavailableError(failure) from None
        raise AssertionError("unreachable: tenacity either returns or raises")


def _log_record(record: BatchRecord) -> None:
    log.info(
        "batch %d: %d file(s), %d read, %d written, %d duplicate, %d rejected in %d ms"
        " (read %d, commit %d%s)",
        record.key.batch_id,
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
