"""Run records: building one from a run's totals, and every validation rule on its own."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from spark_app.runhistory.record import (
    CpuMetrics,
    DiskMetrics,
    Environment,
    MemoryMetrics,
    ResourceMetrics,
    RunTotals,
    build_record,
    pass_rate,
    run_started_at,
    throughput_rpm,
)
from spark_app.runhistory.rules import InvalidRecordError, parse_record, parse_records
from tests.unit.run_samples import changed, valid

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
RESOURCES = ResourceMetrics(
    CpuMetrics(87.3, 45.2), MemoryMetrics(2048, 1536), DiskMetrics(145.3, 89.7)
)
ENVIRONMENT = Environment("3.11.7", "host-1", "linux", "6.1.0", 8, 16384)


def problems(record: object) -> list[str]:
    with pytest.raises(InvalidRecordError) as caught:
        parse_record(record, NOW)
    return caught.value.problems


# Building a record -------------------------------------------------------------------------


def test_build_record_arithmetic() -> None:
    totals = RunTotals(batches=4, files=4, rows_read=84, rows_written=78, rows_duplicate=2,
                       rows_rejected=4, retries=1, busy_ms=900)  # fmt: skip
    record = build_record(
        "20260101_120000", run_started_at("20260101_120000"), 42.0, totals, 2, RESOURCES,
        ENVIRONMENT,
    )  # fmt: skip
    assert record.sources_processed == 4
    assert record.total_records == 84
    assert record.throughput_rpm == 120.0  # 84 rows in 42 s = 2 rows/s
    assert record.quality_pass_rate == 0.928571  # 78 of 84 rows written
    assert (record.retries, record.errors) == (1, 2)
    assert record.timestamp == "2026-01-01T12:00:00Z"
    assert record.schema_version == "2.0"


def test_built_record_passes_validation_and_round_trips_as_json() -> None:
    totals = RunTotals(batches=1, files=1, rows_read=21, rows_written=20, rows_rejected=1)
    record = build_record(
        "20260101_120000", run_started_at("20260101_120000"), 7.25, totals, 0, RESOURCES,
        ENVIRONMENT,
    )  # fmt: skip
    document = json.loads(json.dumps(record.to_dict()))
    assert parse_record(document, NOW) == record
    assert set(document["resource_metrics"]) == {"cpu", "memory", "disk"}


def test_empty_run_has_a_pass_rate_of_one_and_no_throughput() -> None:
    assert pass_rate(RunTotals()) == 1.0
    assert throughput_rpm(0, 10.0) == 0.0
    record = build_record("20260101_120000", NOW, 0.0, RunTotals(), 0, None, None)
    assert record.total_duration_seconds > 0  # never 0: duration > 0 is a rule
    assert "resource_metrics" not in record.to_dict()


def test_run_started_at_reads_the_run_id() -> None:
    assert run_started_at("20260131_235959") == datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(ValueError):
        run_started_at("2026-01-31")


# Validation: accepted ----------------------------------------------------------------------


def test_the_valid_record_passes() -> None:
    record = parse_record(valid(), NOW)
    assert record.run_id == "20260101_190000"
    assert record.resource_metrics is not None
    assert record.resource_metrics.memory.peak_mb == 2048


def test_a_v1_record_needs_no_resources_or_counts() -> None:
    record = valid()
    for key in ("resource_metrics", "environment", "retries", "errors"):
        del record[key]
    record["schema_version"] = "1.0"
    parsed = parse_record(record, NOW)
    assert (parsed.retries, parsed.errors, parsed.resource_metrics) == (0, 0, None)


def test_a_list_of_records_passes() -> None:
    second = changed("run_id", "20260101_200000")
    assert [r.run_id for r in parse_records([valid(), second], NOW)] == [
        "20260101_190000",
        "20260101_200000",
    ]


# Validation: one rule at a time ------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["run_id", "timestamp", "schema_version", "sources_processed", "total_duration_seconds",
     "total_records", "throughput_rpm", "quality_pass_rate", "retries", "errors",
     "resource_metrics", "environment", "resource_metrics.cpu", "resource_metrics.memory.avg_mb",
     "resource_metrics.disk.read_mb", "environment.hostname", "environment.cpu_cores"],
)  # fmt: skip
def test_a_missing_required_field_is_named(field: str) -> None:
    assert problems(changed(field, ...)) == [f"{field}: required"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("run_id", "2026-01-01 19:00", "must be YYYYMMDD_HHMMSS"),
        ("run_id", "20261301_190000", "is not a real date and time"),
        ("timestamp", "yesterday", "must be ISO-8601"),
        ("timestamp", "2026-01-01", "must be a date and time"),
        ("timestamp", "2026-01-01T19:00:00", "must say its zone"),
        ("timestamp", "2026-02-01T19:00:00Z", "is in the future"),
        ("schema_version", "3.0", "must be '1.0' or '2.0', got '3.0'"),
        ("sources_processed", -1, "must be >= 0, got -1"),
        ("sources_processed", 2.5, "must be a whole number"),
        ("sources_processed", True, "must be a number"),
        ("sources_processed", 10_000_001, "must be <= 10000000"),
        ("total_records", "13198", "must be a number"),
        ("total_records", -5, "must be >= 0"),
        ("total_duration_seconds", 0, "must be > 0, got 0"),
        ("total_duration_seconds", 400 * 86400, "must be <= 31622400"),
        ("quality_pass_rate", 1.2, "must be <= 1, got 1.2"),
        ("quality_pass_rate", -0.1, "must be >= 0"),
        ("quality_pass_rate", float("nan"), "must be finite, got nan"),
        ("retries", -1, "must be >= 0"),
        ("errors", 0.5, "must be a whole number"),
        ("resource_metrics.cpu.peak_percent", 130.0, "must be <= 100"),
        ("resource_metrics.cpu", [87.3, 45.2], "must be an object"),
        ("resource_metrics.disk.write_mb", -1, "must be >= 0"),
        ("environment.cpu_cores", 0, "must be >= 1, got 0"),
        ("environment.total_memory_mb", 0, "must be > 0, got 0"),
        ("environment.python_version", "three", "must look like 3.11.7"),
        ("environment.hostname", "", "must be a non-empty string"),
        ("environment.os_version", 25, "must be a string"),
    ],
)
def test_a_broken_rule_names_its_field(field: str, value: object, message: str) -> None:
    found = problems(changed(field, value))
    assert len(found) == 1, found
    assert found[0].startswith(f"{field}: ")
    assert message in found[0]


def test_throughput_must_agree_with_records_and_duration() -> None:
    found = problems(changed("throughput_rpm", 11876))
    assert found == [
        "throughput_rpm: 11876 does not match total_records / total_duration_seconds x 60 = 239.1"
    ]


def test_implausible_throughput_is_refused() -> None:
    record = changed("throughput_rpm", 70_000_000)
    record["total_records"] = 70_000_000
    record["total_duration_seconds"] = 60
    assert problems(record) == ["throughput_rpm: must be <= 60000000, got 70000000"]


def test_cpu_peak_below_average_is_refused() -> None:
    record = changed("resource_metrics.cpu.peak_percent", 40.0)
    assert problems(record) == ["resource_metrics.cpu.peak_percent: 40 is below avg_percent 45.2"]


def test_memory_peak_below_average_is_refused() -> None:
    record = changed("resource_metrics.memory.peak_mb", 1000)
    assert problems(record) == ["resource_metrics.memory.peak_mb: 1000 is below avg_mb 1536"]


def test_memory_peak_above_the_machine_is_refused() -> None:
    record = changed("environment.total_memory_mb", 1024)
    record["resource_metrics"]["memory"]["avg_mb"] = 512
    assert problems(record) == [
        "resource_metrics.memory.peak_mb: 2048 is more than environment.total_memory_mb 1024"
    ]


def test_unknown_fields_are_refused_but_underscore_notes_pass() -> None:
    record = changed("troughput_rpm", 239.1)
    assert problems(record) == ["troughput_rpm: unknown field"]
    assert parse_record(changed("_note", "imported by hand"), NOW).run_id == "20260101_190000"


def test_not_an_object_is_refused() -> None:
    assert problems(["not", "a", "record"]) == ["record: must be a JSON object, got a list"]


def test_every_problem_of_a_record_is_reported() -> None:
    record = valid()
    record["quality_pass_rate"] = 2
    record["errors"] = -1
    del record["timestamp"]
    assert sorted(problems(record)) == [
        "errors: must be >= 0, got -1",
        "quality_pass_rate: must be <= 1, got 2",
        "timestamp: required",
    ]


def test_a_repeated_run_id_in_one_file_is_refused() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        parse_records([valid(), copy.deepcopy(valid())], NOW)
    assert caught.value.problems == [
        "record 2 (run_id 20260101_190000): run_id: 20260101_190000 repeats record 1"
    ]


def test_problems_in_a_list_name_the_record() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        parse_records([valid(), changed("run_id", "20260101_200000") | {"retries": -2}], NOW)
    assert caught.value.problems == [
        "record 2 (run_id 20260101_200000): retries: must be >= 0, got -2"
    ]


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        parse_records([], NOW)
    assert caught.value.problems == ["document: holds no run record"]
