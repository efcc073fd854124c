"""The v2.0 run record: what one run of the app did, built from its batches and resources.

Pure: no I/O. Totals come from `ingest_batches` (common.batch_metrics.run_totals), resources
from telemetry.resources.ResourceSampler, so the arithmetic here is tested on its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from spark_app.common.batch_metrics import RunTotals

SCHEMA_VERSION = "2.0"
RUN_ID_FORMAT = "%Y%m%d_%H%M%S"


@dataclass(frozen=True)
class CpuMetrics:
    """CPU of the Python driver and its JVM, in percent of all the machine's cores."""

    peak_percent: float
    avg_percent: float


@dataclass(frozen=True)
class MemoryMetrics:
    """Resident memory of the Python driver plus its JVM."""

    peak_mb: float
    avg_mb: float


@dataclass(frozen=True)
class DiskMetrics:
    """Bytes read and written during the run (by those processes where the OS tells)."""

    read_mb: float
    write_mb: float


@dataclass(frozen=True)
class ResourceMetrics:
    """The `resource_metrics` object of a v2.0 record."""

    cpu: CpuMetrics
    memory: MemoryMetrics
    disk: DiskMetrics


@dataclass(frozen=True)
class Environment:
    """Where the run happened."""

    python_version: str
    hostname: str
    os: str
    os_version: str
    cpu_cores: int
    total_memory_mb: int


@dataclass(frozen=True)
class RunRecord:
    """One run, in the v2.0 format of the run history (field names are the JSON keys)."""

    run_id: str
    timestamp: str
    schema_version: str
    sources_processed: int
    total_duration_seconds: float
    total_records: int
    throughput_rpm: float
    quality_pass_rate: float
    retries: int
    errors: int
    resource_metrics: ResourceMetrics | None = None
    environment: Environment | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the record; absent optional parts are left out."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, to the second: 2026-01-01T12:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_started_at(run_id: str) -> datetime:
    """The UTC start that a run id (YYYYMMDD_HHMMSS) names; ValueError if it names none."""
    return datetime.strptime(run_id, RUN_ID_FORMAT).replace(tzinfo=UTC)


def throughput_rpm(records: int, duration_seconds: float) -> float:
    """Records per minute over the run's wall time, to one decimal."""
    if duration_seconds <= 0:
        return 0.0
    return round(records * 60.0 / duration_seconds, 1)


def pass_rate(totals: RunTotals) -> float:
    """Rows written / rows read; 1.0 for a run that read nothing (nothing failed)."""
    if totals.rows_read == 0:
        return 1.0
    return round(totals.rows_written / totals.rows_read, 6)


def build_record(
    run_id: str,
    started: datetime,
    duration_seconds: float,
    totals: RunTotals,
    errors: int,
    resources: ResourceMetrics | None,
    environment: Environment | None,
) -> RunRecord:
    """The run record of a run that started at `started` and has lasted `duration_seconds`."""
    # A record is never shorter than a millisecond: duration > 0 is one of its rules.
    duration = round(max(duration_seconds, 0.001), 3)
    return RunRecord(
        run_id=run_id,
        timestamp=iso_utc(started),
        schema_version=SCHEMA_VERSION,
        sources_processed=totals.files,
        total_duration_seconds=duration,
        total_records=totals.rows_read,
        throughput_rpm=throughput_rpm(totals.rows_read, duration),
        quality_pass_rate=pass_rate(totals),
        retries=totals.retries,
        errors=errors,
        resource_metrics=resources,
        environment=environment,
    )
