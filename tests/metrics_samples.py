"""What the /metrics tests of both tiers share (the collector's unit tests, the HTTP route and
promtool in tests/integration/): the deploy/ files, the expected families, and a /metrics
endpoint over a store holding sample figures on a clock the test moves. Pure: no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from spark_app.commands.dashboard import snapshot
from spark_app.commands.dashboard.metrics import MetricsEndpoint, SnapshotCollector
from spark_app.commands.dashboard.poller import SnapshotStore
from spark_app.commands.dashboard.snapshot import Fetched, build_snapshot
from spark_app.common.checkpoint import PendingBatch
from tests.conftest import REPO
from tests.dashboard_samples import NOW

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = REPO / "deploy" / "grafana"
# As Prometheus 3 asks.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
DURATIONS = len(snapshot.DURATION_BUCKETS_S)
FRESHNESS = len(snapshot.FRESHNESS_BUCKETS_S)

EXPECTED_TYPES = {
    "ingest_dashboard_poll_success": "gauge",
    "ingest_dashboard_poll_duration_seconds": "gauge",
    "ingest_dashboard_snapshot_age_seconds": "gauge",
    "ingest_batches": "counter",
    "ingest_batch_retries": "counter",
    "ingest_files_committed": "counter",
    "ingest_rows_read": "counter",
    "ingest_rows_written": "counter",
    "ingest_rows_duplicate": "counter",
    "ingest_rows_rejected": "counter",
    "ingest_batch_duration_seconds": "histogram",
    "ingest_freshness_seconds": "histogram",
    "ingest_stream_state": "gauge",
    "ingest_healthy": "gauge",
    "ingest_files_waiting": "gauge",
    "ingest_last_commit_age_seconds": "gauge",
    "ingest_run_heartbeat_age_seconds": "gauge",
    "ingest_batch_pending_seconds": "gauge",
}


def batch(seconds_ago: float, read: int, rejected: int, age: float | None) -> tuple[Any, ...]:
    """A row of BATCHES_SQL, committed `seconds_ago` before NOW."""
    return (
        NOW - timedelta(seconds=seconds_ago), read, read - rejected, rejected, Decimal("250.5"),
        None if age is None else Decimal(str(age)), None if age is None else Decimal("1"),
        120, 30, 160, 0, 1,
    )  # fmt: skip


def distributions_row() -> tuple[Any, ...]:
    """Four batches lasting 0.04, 0.2, 0.2 and 400 s; three with files aged 0.3, 4 and 7200 s."""
    durations = [1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    freshness = [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    assert len(durations) == DURATIONS and len(freshness) == FRESHNESS
    return (Decimal(400_440), 4, *durations, Decimal("7204.3"), 3, *freshness)


def fetched(**parts: Any) -> Fetched:
    """Every table present, figures chosen to be told apart; `parts` replaces some."""
    base: dict[str, Any] = {
        "totals": (4, Decimal(5), Decimal(84), Decimal(70), Decimal(3), Decimal(11), Decimal(2)),
        "batches": [batch(5, 21, 2, 3.0), batch(25, 21, 3, 1.0), batch(45, 42, 6, None)],
        "last_minute": (3, Decimal(84)),
        "reject_reasons": [("bad_price", 2), ("missing_user_id", 7), ("sink_refused", 2)],
        "latest_rejects": [],
        "runs": [],
        "minutes": [],
        "type_totals": [],
        "last_run": (
            "20250301_120000", "running", NOW - timedelta(seconds=10), NOW - timedelta(hours=1)
        ),
        "distributions": distributions_row(),
        "waiting": 2,
        "checkpoint_read": True,
        "pending": PendingBatch(9, "q", datetime(2025, 3, 1, 12, 30, 3, tzinfo=UTC), 0.0),
    }  # fmt: skip
    base.update(parts)
    return Fetched(**base)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def endpoint(
    parts: Fetched | None = None, clock: Clock | None = None
) -> tuple[MetricsEndpoint, SnapshotStore, Clock]:
    """/metrics over a store holding one successful poll of `parts`."""
    clock = clock or Clock()
    store = SnapshotStore(monotonic=clock)
    store.publish(build_snapshot(parts or fetched(), NOW), {"ok": True, "poll_ms": 12.5})
    return MetricsEndpoint(SnapshotCollector(store, "mysql", monotonic=clock)), store, clock
