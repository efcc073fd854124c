"""A concise status line every few batches, from a StreamingQueryListener (not the sink).

Spark calls onQueryProgress on its listener bus after each micro-batch; every `every` batches
that took files the listener reads this run's totals from ingest_batches (rows, rejects, rows/s) and
counts the files still waiting in the drop folder, then logs one line, with the median time of
Spark's phases over those batches (where a trigger's time goes).
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark import SparkContext
from pyspark.sql.streaming.listener import (
    JStreamingQueryListener,
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryListener,
)

from spark_app.common import batch_metrics as batchstats
from spark_app.common.backlog import waiting_files
from spark_app.common.batch_metrics import RunTotals
from spark_app.common.database import DatabaseSettings
from spark_app.common.errors import summarize
from spark_app.sink.drivers import connect

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject

log = logging.getLogger(__name__)


def status_text(run_id: str, totals: RunTotals, backlog: int | None) -> str:
    """`status 20260101_120000: 40 batches, 840 rows, 1250.3 rows/s, backlog 0 files, ...`."""
    rate = totals.rows_read / (totals.busy_ms / 1000) if totals.busy_ms else 0.0
    share = totals.rows_rejected / totals.rows_read * 100 if totals.rows_read else 0.0
    waiting = "?" if backlog is None else str(backlog)
    return (
        f"status {run_id}: {totals.batches} batches, {totals.rows_read} rows,"
        f" {rate:.1f} rows/s, backlog {waiting} files,"
        f" {totals.rows_rejected} rejected ({share:.1f} %)"
    )


# Spark's phases of a trigger (StreamingQueryProgress.durationMs), in the order they run.
PHASES = (
    "latestOffset",
    "walCommit",
    "getBatch",
    "queryPlanning",
    "addBatch",
    "commitOffsets",
    "triggerExecution",
)


def phases_text(durations: Sequence[Mapping[str, int]]) -> str:
    """`phases p50 ms: latestOffset 3, walCommit 9, ..., triggerExecution 412` over batches."""
    medians = [
        f"{phase} {statistics.median(found):.0f}"
        for phase in PHASES
        if (found := [d[phase] for d in durations if phase in d])
    ]
    return "phases p50 ms: " + ", ".join(medians) if medians else ""


class _ProgressFromJson(JStreamingQueryListener):
    """PySpark's bridge from the JVM's listener bus, each progress read from Spark's JSON of
    it: one call into the JVM, where PySpark's own conversion makes one or more per field
    (and a dozen to end each map's iteration). Those calls took 0.1-0.2 s a batch of both
    processes' CPU, about 15 % of a catch-up's throughput on two cores."""

    def __init__(self, listener: StatusListener) -> None:
        super().__init__(listener)
        self.status = listener

    def onQueryProgress(self, jevent: JavaObject) -> None:
        self.status.progressed(json.loads(jevent.progress().json()))


class StatusListener(StreamingQueryListener):
    """Logs a status line every `every` batches that read something."""

    def __init__(self, database: DatabaseSettings, run_id: str, input_dir: str, every: int) -> None:
        self.database = database
        self.run_id = run_id
        self.input_dir = Path(input_dir)
        self.every = every
        self._batches = 0
        self._durations: list[dict[str, int]] = []

    @property
    def _jlistener(self) -> JavaObject:
        # What spark.streams.addListener registers: PySpark's wrapper around our bridge.
        if not hasattr(self, "_jlistenerobj"):
            jvm = SparkContext._jvm
            if jvm is None:
                raise RuntimeError("a StatusListener needs a running SparkContext")
            self._jlistenerobj = jvm.PythonStreamingQueryListenerWrapper(_ProgressFromJson(self))
        return self._jlistenerobj

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        pass

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        self.progressed(json.loads(event.progress.json))

    def progressed(self, progress: Mapping[str, Any]) -> None:
        """One batch's progress, as Spark's JSON of it (a field Spark leaves out, such as a
        rate that is not a number, is simply absent)."""
        # The handler reads the files itself, so Spark counts no input rows: a batch had input
        # when its source offsets moved.
        sources = progress.get("sources", [])
        if all(source.get("startOffset") == source.get("endOffset") for source in sources):
            return
        self._batches += 1
        self._durations.append(
            {name: int(ms) for name, ms in progress.get("durationMs", {}).items()}
        )
        if self.every and self._batches % self.every == 0:
            self.log_status()

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        pass

    def log_status(self) -> None:
        """Read the run's totals and the backlog, log one line; never raises."""
        try:
            with connect(self.database, timeout=5) as handle:
                totals = batchstats.run_totals(handle, self.run_id)
                last = batchstats.last_batch(handle)
            backlog = waiting_files(self.input_dir, last.newest_file_s_ago if last else None)
            line = status_text(self.run_id, totals, backlog)
            phases, self._durations = phases_text(self._durations), []
            log.info("%s", f"{line}; {phases}" if phases else line)
        except Exception as exc:
            log.warning("status line unavailable: %s", summarize(exc))
