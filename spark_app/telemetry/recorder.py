"""The run recorder: samples the driver's resources and keeps the run's record up to date.

Started by main() once the session and the tables exist; a background thread samples CPU and
memory every few seconds and refreshes the record (state `running`) every few minutes; stop()
writes the final record (`finished` or `failed`). Totals are read from ingest_batches for this
run id, so they are exact whatever was replayed. Recording never stops the stream: a failure to
record is logged as a warning.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from spark_app.common import batch_metrics as batchstats
from spark_app.common.database import DatabaseSettings
from spark_app.common.errors import summarize
from spark_app.runhistory import store as runstore
from spark_app.runhistory.record import RunRecord, build_record, run_started_at
from spark_app.sink.drivers import connect
from spark_app.telemetry.resources import ResourceSampler, environment
from spark_app.telemetry.settings import ObservabilitySettings

log = logging.getLogger(__name__)


class RunRecorder:
    """Owns one run's record: sampling thread, periodic refresh, final write."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        database: DatabaseSettings,
        run_id: str,
        errors: Callable[[], int] = lambda: 0,
    ) -> None:
        self.settings = settings
        self.database = database
        self.run_id = run_id
        self.errors = errors
        try:
            self.started = run_started_at(run_id)
        except ValueError:
            self.started = datetime.now(UTC)
        self._began = time.monotonic()
        self._sampler = ResourceSampler()
        self._environment = environment()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-recorder", daemon=True)

    def start(self) -> None:
        """Start sampling (and refreshing the record every record_interval seconds)."""
        log.info(
            "run %s: recording to pipeline_runs and %s (pids %s)",
            self.run_id,
            self.settings.history_file,
            ", ".join(str(p.pid) for p in self._sampler.processes),
        )
        # The first record at once: the health check reads it as the stream's heartbeat.
        self.write("running")
        self._thread.start()

    def _loop(self) -> None:
        last_write = time.monotonic()
        while not self._stop.wait(self.settings.sample_interval):
            self._sampler.sample()
            if time.monotonic() - last_write >= self.settings.record_interval:
                last_write = time.monotonic()
                self.write("running")

    def build(self, extra_errors: int = 0) -> RunRecord:
        """The record as of now (reads the run's totals from ingest_batches)."""
        with connect(self.database) as handle:
            totals = batchstats.run_totals(handle, self.run_id)
        return build_record(
            run_id=self.run_id,
            started=self.started,
            duration_seconds=time.monotonic() - self._began,
            totals=totals,
            errors=self.errors() + extra_errors,
            resources=self._sampler.summary(),
            environment=self._environment,
        )

    def write(self, state: str, extra_errors: int = 0) -> RunRecord | None:
        """Upsert the record into pipeline_runs and the history file; None if it failed."""
        try:
            record = self.build(extra_errors)
        except Exception as exc:
            log.warning("run %s: record not written, no totals: %s", self.run_id, summarize(exc))
            return None
        try:
            with connect(self.database) as handle:
                runstore.upsert_run(handle, record, state)
        except Exception as exc:
            log.warning("run %s: not recorded in pipeline_runs: %s", self.run_id, summarize(exc))
        try:
            runstore.save_to_history(self.settings.history_file, record.to_dict())
        except runstore.HistoryError as exc:
            log.warning("run %s: %s", self.run_id, exc)
        return record

    def stop(self, failed: bool = False, extra_errors: int = 0) -> RunRecord | None:
        """Stop sampling and write the final record; logs a one-line summary."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._sampler.sample()
        record = self.write("failed" if failed else "finished", extra_errors)
        if record is not None:
            log.info("%s", describe(record))
        return record


def describe(record: RunRecord) -> str:
    """One line about a run record."""
    text = (
        f"run {record.run_id}: {record.sources_processed} file(s), {record.total_records}"
        f" records in {record.total_duration_seconds:.1f} s ({record.throughput_rpm:g} rpm),"
        f" pass rate {record.quality_pass_rate:.3f}, {record.retries} retries,"
        f" {record.errors} errors"
    )
    res = record.resource_metrics
    if res is not None:
        text += (
            f"; cpu peak {res.cpu.peak_percent:g} % avg {res.cpu.avg_percent:g} %,"
            f" memory peak {res.memory.peak_mb:g} MB avg {res.memory.avg_mb:g} MB,"
            f" disk read {res.disk.read_mb:g} MB write {res.disk.write_mb:g} MB"
        )
    return text
