"""Sample run records for the tests: a valid v2.0 record and one-field variations of it."""

from __future__ import annotations

from typing import Any


def valid() -> dict[str, Any]:
    """A correct v2.0 record (a fresh copy each time)."""
    return {
        "run_id": "20260101_190000",
        "timestamp": "2026-01-01T19:00:00Z",
        "schema_version": "2.0",
        "sources_processed": 5,
        "total_duration_seconds": 3312,
        "total_records": 13198,
        "throughput_rpm": 239.1,
        "quality_pass_rate": 0.661,
        "retries": 1,
        "errors": 0,
        "resource_metrics": {
            "cpu": {"peak_percent": 87.3, "avg_percent": 45.2},
            "memory": {"peak_mb": 2048, "avg_mb": 1536},
            "disk": {"read_mb": 145.3, "write_mb": 89.7},
        },
        "environment": {
            "python_version": "3.11.5",
            "hostname": "macbook-pro.local",
            "os": "darwin",
            "os_version": "25.0.0",
            "cpu_cores": 8,
            "total_memory_mb": 16384,
        },
        "_synthetic": False,
    }


def changed(path: str, value: object) -> dict[str, Any]:
    """The valid record with one field (dotted path) set, or removed when value is ...."""
    record = valid()
    *parents, key = path.split(".")
    target = record
    for part in parents:
        target = target[part]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return record
