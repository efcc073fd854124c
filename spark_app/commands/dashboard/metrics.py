"""`/metrics`: the poller's latest snapshot as Prometheus metrics, OpenMetrics or classic text.

Each scrape reads the cached snapshot, never the database: however often Prometheus scrapes,
the database sees the dashboard's one round of queries per interval. Counters and histograms
are totals over the sink's tables (ingest_batches, events_rejected), so they survive restarts of
the dashboard and of the stream. Every metric carries a `sink` label (mysql or postgresql).
When a poll fails, the last good figures stay, with ingest_dashboard_poll_success 0 and
ingest_dashboard_snapshot_age_seconds growing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from spark_app.commands.dashboard.poller import SnapshotSource
from spark_app.commands.dashboard.snapshot import STREAM_STATES

# The quarantine reason of rows the database itself refused (the data contract's code).
SINK_REFUSED = "sink_refused"

# ingest_batches totals: (metric, snapshot key, help).
BATCH_COUNTERS = (
    ("ingest_batches", "batches", "Micro-batches committed (rows of ingest_batches)."),
    (
        "ingest_batch_retries",
        "retries",
        "Failed attempts of committed batches before they committed.",
    ),
    (
        "ingest_files_committed",
        "files",
        "Input files in committed batches, empty and header-only ones included.",
    ),
    ("ingest_rows_read", "rows_read", "Input rows read by committed batches (blank lines aside)."),
    (
        "ingest_rows_written",
        "rows_written",
        "Rows written by committed batches: events inserted, users and products upserted.",
    ),
    (
        "ingest_rows_duplicate",
        "rows_duplicate",
        "Events not written again because their event_id was already committed.",
    ),
)
HISTOGRAMS = (
    (
        "ingest_batch_duration_seconds",
        "batch_duration_s",
        "Duration of each committed batch, from its handler's start to its commit.",
    ),
    (
        "ingest_freshness_seconds",
        "freshness_s",
        "Per committed batch with files: seconds from its oldest file's modification time to the"
        " commit.",
    ),
)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _bound(value: float) -> str:
    """A bucket's `le`, written as the client library writes its own (1.0, 0.25, +Inf)."""
    return repr(float(value))


class SnapshotCollector:
    """A prometheus_client collector: one set of metric families per scrape, from the cache."""

    def __init__(
        self,
        source: SnapshotSource,
        sink: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.sink = sink
        self._monotonic = monotonic

    def _gauge(self, name: str, documentation: str, value: float, unit: str = "") -> Metric:
        family = GaugeMetricFamily(name, documentation, labels=["sink"], unit=unit)
        family.add_metric([self.sink], value)
        return family

    def collect(self) -> Iterator[Metric]:
        published = self.source.latest()
        payload = published.payload
        status = payload.get("status") or {}
        now = self._monotonic()
        yield self._gauge(
            "ingest_dashboard_poll_success",
            "1 when the dashboard's latest read of the database succeeded, else 0.",
            1.0 if published.ok else 0.0,
        )
        if status.get("poll_ms") is not None:
            yield self._gauge(
                "ingest_dashboard_poll_duration_seconds",
                "Duration of the dashboard's latest round of queries.",
                float(status["poll_ms"]) / 1000,
                "seconds",
            )
        if published.figures_monotonic is None:
            return  # nothing read yet: no figures to show
        age = max(0.0, now - published.figures_monotonic)
        yield self._gauge(
            "ingest_dashboard_snapshot_age_seconds",
            "Seconds since the figures below were read from the database.",
            age,
            "seconds",
        )
        yield from self._totals(payload.get("totals"))
        yield from self._rejects(payload.get("rejects"))
        yield from self._histograms(payload.get("distributions"))
        yield from self._state(payload.get("health"), payload.get("stream"), age)
        yield from self._pending(payload.get("checkpoint"), age)

    def _totals(self, totals: Mapping[str, Any] | None) -> Iterator[Metric]:
        if totals is None:
            return
        for name, key, documentation in BATCH_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["sink"])
            family.add_metric([self.sink], float(totals[key]))
            yield family

    def _rejects(self, rejects: Mapping[str, Any] | None) -> Iterator[Metric]:
        if rejects is None:
            return
        family = CounterMetricFamily(
            "ingest_rows_rejected",
            "Rows quarantined in events_rejected, by reason (sink_refused: rows that passed"
            " validation but the database refused).",
            labels=["sink", "reason"],
        )
        counts = {str(item["reason"]): float(item["rows"]) for item in rejects["by_reason"]}
        # Always present, so that the first refused row is an increase, not a new series.
        counts.setdefault(SINK_REFUSED, 0.0)
        for reason, rows in sorted(counts.items()):
            family.add_metric([self.sink, reason], rows)
        yield family

    def _histograms(self, distributions: Mapping[str, Any] | None) -> Iterator[Metric]:
        if distributions is None:
            return
        for name, key, documentation in HISTOGRAMS:
            part = distributions[key]
            buckets: list[tuple[str, float]] = [
                (_bound(bound), float(count)) for bound, count in part["buckets"]
            ]
            buckets.append(("+Inf", float(part["count"])))
            family = HistogramMetricFamily(name, documentation, labels=["sink"], unit="seconds")
            family.add_metric([self.sink], buckets, float(part["sum"]))
            yield family

    def _state(
        self, health: Mapping[str, Any] | None, stream: Mapping[str, Any] | None, age: float
    ) -> Iterator[Metric]:
        if stream is not None:
            family = GaugeMetricFamily(
                "ingest_stream_state",
                "The stream's state: 1 for the current one. running: committed within --max-age;"
                " idle: alive, nothing waiting; stuck: alive, files waiting and no commit, or a"
                " batch pending, for over --max-age; stopped: no live run record.",
                labels=["sink", "state"],
            )
            for state in STREAM_STATES:
                family.add_metric([self.sink, state], 1.0 if stream["state"] == state else 0.0)
            yield family
        if health is None:
            return
        yield self._gauge(
            "ingest_healthy",
            "1 when ingest-health's verdict over the same figures is healthy, else 0.",
            1.0 if health["healthy"] else 0.0,
        )
        waiting = health.get("waiting_files")
        if waiting is not None:
            yield self._gauge(
                "ingest_files_waiting",
                "Visible *.csv files in the drop folder not committed yet (with --input-dir).",
                float(waiting),
            )
        # Ages grow between polls: counted up to the moment of the scrape.
        last_commit = _number(health.get("last_commit_s_ago"))
        if last_commit is not None:
            yield self._gauge(
                "ingest_last_commit_age_seconds",
                "Seconds since the latest batch was committed.",
                last_commit + age,
                "seconds",
            )
        run = health.get("run")
        if run is not None:
            yield self._gauge(
                "ingest_run_heartbeat_age_seconds",
                "Seconds since the latest run's record was written (refreshed every"
                " RUN_RECORD_INTERVAL_SECONDS while it runs).",
                float(run["recorded_s_ago"]) + age,
                "seconds",
            )

    def _pending(self, checkpoint: Mapping[str, Any] | None, age: float) -> Iterator[Metric]:
        if checkpoint is None:
            return  # no --checkpoint-dir
        pending = checkpoint.get("pending_batch")
        yield self._gauge(
            "ingest_batch_pending_seconds",
            "Seconds the checkpoint's planned, uncommitted batch has been pending (0: none;"
            " with --checkpoint-dir). A batch the database refused as a whole stays pending.",
            0.0 if pending is None else float(pending["pending_s"]) + age,
            "seconds",
        )


class MetricsEndpoint:
    """The exposition of one collector, in the format the scraper's Accept header asks for."""

    def __init__(self, collector: SnapshotCollector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type): OpenMetrics when accepted, else the classic text format."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
