"""Validation of run records (v2.0, and the older v1.0 without resources): one rule at a time.

Every problem is one line that starts with the field's path (`resource_metrics.cpu.peak_percent:
...`); all problems of a record are reported, not just the first. Limits are sized for this
pipeline (one Spark driver committing micro-batches into MySQL) with wide headroom.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spark_app.runhistory.record import (
    CpuMetrics,
    DiskMetrics,
    Environment,
    MemoryMetrics,
    ResourceMetrics,
    RunRecord,
    run_started_at,
)

SCHEMA_VERSIONS = ("1.0", "2.0")
MAX_FILES = 10_000_000
MAX_DURATION_SECONDS = 366 * 86_400  # a stream may run for months; a year is implausible
MAX_RECORDS = 10**12
# 1,000,000 rows/s: beyond what one MySQL server takes in (LOAD DATA does ~200,000 here).
MAX_THROUGHPUT_RPM = 60_000_000
MAX_RETRIES_OR_ERRORS = 1_000_000
MAX_MEMORY_MB = 1_048_576  # 1 TiB
MAX_DISK_MB = 100_000_000  # 100 TB
MAX_CPU_CORES = 4096
MAX_FUTURE = timedelta(days=1)  # clock skew, not a record from the future
# throughput_rpm must equal total_records / total_duration_seconds x 60 within this.
THROUGHPUT_TOLERANCE = 0.01
THROUGHPUT_SLACK_RPM = 1.0

_RUN_ID = re.compile(r"^\d{8}_\d{6}$")
_PYTHON_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?\S*$")
_V1_FIELDS = (
    "run_id",
    "timestamp",
    "schema_version",
    "sources_processed",
    "total_duration_seconds",
    "total_records",
    "throughput_rpm",
    "quality_pass_rate",
)
_KNOWN_FIELDS = frozenset((*_V1_FIELDS, "retries", "errors", "resource_metrics", "environment"))


class InvalidRecordError(ValueError):
    """A run record broke rules; `problems` has one line per broken rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class _Checker:
    """Collects problems while reading one JSON object."""

    problems: list[str]

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def obj(self, parent: Mapping[str, object], key: str, path: str) -> Mapping[str, object] | None:
        """A nested object; None (and a problem) when it is missing or not an object."""
        value = parent.get(key)
        if value is None:
            self.fail(path, "required")
            return None
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {_kind(value)}")
            return None
        return value

    def text(self, parent: Mapping[str, object], key: str, path: str) -> str:
        value = parent.get(key)
        if value is None:
            self.fail(path, "required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
            return ""
        return value

    def number(
        self,
        parent: Mapping[str, object],
        key: str,
        path: str,
        high: float,
        *,
        low: float = 0,
        above_low: bool = False,
        whole: bool = False,
        default: float | None = None,
    ) -> float | None:
        """A number in [low, high] ((low, high] when above_low); None when it breaks a rule."""
        value = parent.get(key)
        if value is None:
            if default is None:
                self.fail(path, "required")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"must be a number, got {_kind(value)} {value!r}")
            return None
        if whole and not isinstance(value, int):
            self.fail(path, f"must be a whole number, got {value!r}")
            return None
        if not math.isfinite(value):
            self.fail(path, f"must be finite, got {value!r}")
            return None
        if (value <= low if above_low else value < low) or value > high:
            bound = f"{low:g} <" if above_low else f"{low:g} <="
            self.fail(path, f"{value!r} is out of range ({bound} value <= {high:g})")
            return None
        return value


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _check_run_id(check: _Checker, record: Mapping[str, object]) -> str:
    run_id = check.text(record, "run_id", "run_id")
    if run_id and not _RUN_ID.match(run_id):
        check.fail("run_id", f"must be YYYYMMDD_HHMMSS, got {run_id!r}")
    elif run_id:
        try:
            run_started_at(run_id)
        except ValueError:
            check.fail("run_id", f"is not a real date and time: {run_id!r}")
    return run_id


def _check_timestamp(check: _Checker, record: Mapping[str, object], now: datetime) -> str:
    text = check.text(record, "timestamp", "timestamp")
    if not text:
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        check.fail("timestamp", f"must be ISO-8601 like 2026-01-01T12:00:00Z, got {text!r}")
        return text
    if "T" not in text.upper():
        check.fail("timestamp", f"must be a date and time (YYYY-MM-DDTHH:MM:SSZ), got {text!r}")
    elif moment.tzinfo is None:
        check.fail("timestamp", f"must say its zone (Z for UTC), got {text!r}")
    elif moment - now > MAX_FUTURE:
        check.fail("timestamp", f"{text} is in the future")
    return text


def _check_throughput(
    check: _Checker, records: float | None, duration: float | None, rpm: float | None
) -> None:
    if records is None or duration is None or rpm is None:
        return  # one of them is broken already: its own message says so
    expected = records * 60.0 / duration
    if abs(rpm - expected) > max(THROUGHPUT_SLACK_RPM, THROUGHPUT_TOLERANCE * expected):
        check.fail(
            "throughput_rpm",
            f"{rpm:g} does not match total_records / total_duration_seconds x 60 = {expected:.1f}",
        )


def _peak_and_average(
    check: _Checker, part: Mapping[str, object] | None, path: str, unit: str, high: float
) -> tuple[float, float]:
    if part is None:
        return 0.0, 0.0
    peak = check.number(part, f"peak_{unit}", f"{path}.peak_{unit}", high)
    avg = check.number(part, f"avg_{unit}", f"{path}.avg_{unit}", high)
    if peak is not None and avg is not None and peak < avg:
        check.fail(f"{path}.peak_{unit}", f"{peak:g} is below avg_{unit} {avg:g}")
    return float(peak or 0), float(avg or 0)


def _check_resources(
    check: _Checker, record: Mapping[str, object], total_memory_mb: int
) -> ResourceMetrics:
    metrics = check.obj(record, "resource_metrics", "resource_metrics")
    if metrics is None:
        return ResourceMetrics(CpuMetrics(0, 0), MemoryMetrics(0, 0), DiskMetrics(0, 0))
    cpu = check.obj(metrics, "cpu", "resource_metrics.cpu")
    memory = check.obj(metrics, "memory", "resource_metrics.memory")
    disk = check.obj(metrics, "disk", "resource_metrics.disk")
    cpu_peak, cpu_avg = _peak_and_average(check, cpu, "resource_metrics.cpu", "percent", 100.0)
    mem_peak, mem_avg = _peak_and_average(
        check, memory, "resource_metrics.memory", "mb", MAX_MEMORY_MB
    )
    if total_memory_mb and mem_peak > total_memory_mb:
        check.fail(
            "resource_metrics.memory.peak_mb",
            f"{mem_peak:g} is more than environment.total_memory_mb {total_memory_mb}",
        )
    read = write = None
    if disk is not None:
        read = check.number(disk, "read_mb", "resource_metrics.disk.read_mb", MAX_DISK_MB)
        write = check.number(disk, "write_mb", "resource_metrics.disk.write_mb", MAX_DISK_MB)
    return ResourceMetrics(
        cpu=CpuMetrics(peak_percent=cpu_peak, avg_percent=cpu_avg),
        memory=MemoryMetrics(peak_mb=mem_peak, avg_mb=mem_avg),
        disk=DiskMetrics(read_mb=float(read or 0), write_mb=float(write or 0)),
    )


def _check_environment(check: _Checker, record: Mapping[str, object]) -> Environment:
    env = check.obj(record, "environment", "environment")
    if env is None:
        return Environment("", "", "", "", 0, 0)
    python = check.text(env, "python_version", "environment.python_version")
    if python and not _PYTHON_VERSION.match(python):
        check.fail("environment.python_version", f"must look like 3.11.7, got {python!r}")
    hostname = check.text(env, "hostname", "environment.hostname")
    os_name = check.text(env, "os", "environment.os")
    os_version = env.get("os_version", "")
    if not isinstance(os_version, str):
        check.fail("environment.os_version", f"must be a string, got {_kind(os_version)}")
        os_version = ""
    cores = check.number(
        env, "cpu_cores", "environment.cpu_cores", MAX_CPU_CORES, low=1, whole=True
    )
    memory = check.number(
        env,
        "total_memory_mb",
        "environment.total_memory_mb",
        16 * MAX_MEMORY_MB,
        above_low=True,
        whole=True,
    )
    return Environment(python, hostname, os_name, os_version, int(cores or 0), int(memory or 0))


def _check_counts(check: _Checker, record: Mapping[str, object], v2: bool) -> tuple[int, int]:
    """retries and errors: required in v2.0, 0 when absent in v1.0."""
    default = None if v2 else 0
    retries, errors = (
        check.number(record, key, key, MAX_RETRIES_OR_ERRORS, whole=True, default=default)
        for key in ("retries", "errors")
    )
    return int(retries or 0), int(errors or 0)


def parse_record(document: object, now: datetime | None = None) -> RunRecord:
    """A checked RunRecord from one JSON object; InvalidRecordError lists every problem."""
    check = _Checker([])
    if not isinstance(document, dict):
        raise InvalidRecordError([f"record: must be a JSON object, got {_kind(document)}"])
    record: Mapping[str, object] = document
    for key in sorted(set(record) - _KNOWN_FIELDS):
        if not key.startswith("_"):  # `_name` keys are annotations, e.g. `_synthetic`
            check.fail(key, "unknown field")
    run_id = _check_run_id(check, record)
    timestamp = _check_timestamp(check, record, now or datetime.now(UTC))
    version = check.text(record, "schema_version", "schema_version")
    if version and version not in SCHEMA_VERSIONS:
        check.fail(
            "schema_version", f"must be one of {', '.join(SCHEMA_VERSIONS)}, got {version!r}"
        )
    v2 = version != "1.0"
    files = check.number(record, "sources_processed", "sources_processed", MAX_FILES, whole=True)
    duration = check.number(
        record,
        "total_duration_seconds",
        "total_duration_seconds",
        MAX_DURATION_SECONDS,
        above_low=True,
    )
    records = check.number(record, "total_records", "total_records", MAX_RECORDS, whole=True)
    rpm = check.number(record, "throughput_rpm", "throughput_rpm", MAX_THROUGHPUT_RPM)
    _check_throughput(check, records, duration, rpm)
    rate = check.number(record, "quality_pass_rate", "quality_pass_rate", 1.0)
    retries, errors = _check_counts(check, record, v2)
    environment = resources = None
    if v2 or "environment" in record:
        environment = _check_environment(check, record)
    if v2 or "resource_metrics" in record:
        total_memory = environment.total_memory_mb if environment else 0
        resources = _check_resources(check, record, total_memory)
    if check.problems:
        raise InvalidRecordError(check.problems)
    return RunRecord(
        run_id=run_id,
        timestamp=timestamp,
        schema_version=version,
        sources_processed=int(files or 0),
        total_duration_seconds=float(duration or 0),
        total_records=int(records or 0),
        throughput_rpm=float(rpm or 0),
        quality_pass_rate=float(rate or 0),
        retries=retries,
        errors=errors,
        resource_metrics=resources,
        environment=environment,
    )


def records_of(document: object) -> list[object]:
    """The records of a JSON document: one object, or a list of them."""
    return list(document) if isinstance(document, list) else [document]


def parse_records(document: object, now: datetime | None = None) -> list[RunRecord]:
    """Check every record of a document (one or a list) and that run ids are not repeated.

    InvalidRecordError's lines name the record (`record 2 (run_id ...)`) and the field.
    """
    problems: list[str] = []
    parsed: list[RunRecord] = []
    seen: dict[str, int] = {}
    items = records_of(document)
    if not items:
        raise InvalidRecordError(["document: holds no run record"])
    for number, item in enumerate(items, start=1):
        run_id = item.get("run_id") if isinstance(item, dict) else None
        where = f"record {number}" + (f" (run_id {run_id})" if isinstance(run_id, str) else "")
        try:
            parsed.append(parse_record(item, now))
        except InvalidRecordError as exc:
            problems.extend(f"{where}: {problem}" for problem in exc.problems)
        if isinstance(run_id, str):
            if run_id in seen:
                problems.append(f"{where}: run_id: {run_id} repeats record {seen[run_id]}")
            seen.setdefault(run_id, number)
    if problems:
        raise InvalidRecordError(problems)
    return parsed
