"""The rules of a run record (v2.0, and the older v1.0 without resources), as pydantic models.

Every problem is one line that starts with the field's path (`resource_metrics.cpu.peak_percent:
...`); all problems of a record are reported, not just the first. Limits are sized for this
pipeline (one Spark driver committing micro-batches into the database) with wide headroom.
`record_schema()` is the JSON Schema of the same rules (`ingest-runs schema`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

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
# 1,000,000 rows/s: beyond what one database server takes in (LOAD DATA does ~200,000 here).
MAX_THROUGHPUT_RPM = 60_000_000
MAX_RETRIES_OR_ERRORS = 1_000_000
MAX_MEMORY_MB = 1_048_576  # 1 TiB
MAX_DISK_MB = 100_000_000  # 100 TB
MAX_CPU_CORES = 4096
MAX_FUTURE = timedelta(days=1)  # clock skew, not a record from the future
# throughput_rpm must equal total_records / total_duration_seconds x 60 within this.
THROUGHPUT_TOLERANCE = 0.01
THROUGHPUT_SLACK_RPM = 1.0

RUN_ID_PATTERN = r"^\d{8}_\d{6}$"
PYTHON_VERSION_PATTERN = r"^\d+\.\d+(\.\d+)?\S*$"
# Fields a v1.0 record may leave out (its counts are then 0).
V2_FIELDS = ("retries", "errors", "resource_metrics", "environment")


class InvalidRecordError(ValueError):
    """A run record broke rules; `problems` has one line per broken rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _broken(message: str, at: str = "") -> PydanticCustomError:
    """A broken rule of ours; `at` continues the path (a rule checked on a whole object)."""
    return PydanticCustomError("rule", "{message}", {"message": message, "at": at})


def _text(value: object) -> str | None:
    """A string with more than white space in it; None for anything else (the type's error)."""
    if not isinstance(value, str):
        return None
    if not value.strip():
        raise _broken(f"must be a non-empty string, got {value!r}")
    return value


def _peak_not_below_average(peak: float, avg: float, unit: str) -> None:
    if peak < avg:
        raise _broken(f"{peak:g} is below avg_{unit} {avg:g}", at=f"peak_{unit}")


# The number fields: JSON numbers only (no strings, no booleans), finite, in range.
def _count(high: int, low: int = 0) -> Any:
    return Field(strict=True, ge=low, le=high)


def _amount(high: float) -> Any:
    return Field(strict=True, ge=0, le=high, allow_inf_nan=False)


class CpuRules(BaseModel):
    """CPU of the Python driver and its JVM, in percent of all the machine's cores."""

    model_config = ConfigDict(title="cpu")

    peak_percent: float = _amount(100)
    avg_percent: float = _amount(100)

    @model_validator(mode="after")
    def _peak(self) -> CpuRules:
        _peak_not_below_average(self.peak_percent, self.avg_percent, "percent")
        return self


class MemoryRules(BaseModel):
    """Resident memory (RSS) of the Python driver plus its JVM, in MB."""

    model_config = ConfigDict(title="memory")

    peak_mb: float = _amount(MAX_MEMORY_MB)
    avg_mb: float = _amount(MAX_MEMORY_MB)

    @model_validator(mode="after")
    def _peak(self) -> MemoryRules:
        _peak_not_below_average(self.peak_mb, self.avg_mb, "mb")
        return self


class DiskRules(BaseModel):
    """MB read and written during the run (by those processes where the OS tells)."""

    model_config = ConfigDict(title="disk")

    read_mb: float = _amount(MAX_DISK_MB)
    write_mb: float = _amount(MAX_DISK_MB)


class ResourceRules(BaseModel):
    """The `resource_metrics` object."""

    model_config = ConfigDict(title="resource_metrics")

    cpu: CpuRules
    memory: MemoryRules
    disk: DiskRules


class EnvironmentRules(BaseModel):
    """Where the run happened."""

    model_config = ConfigDict(title="environment")

    python_version: str = Field(strict=True, min_length=1, pattern=PYTHON_VERSION_PATTERN)
    hostname: str = Field(strict=True, min_length=1)
    os: str = Field(strict=True, min_length=1)
    os_version: str = Field("", strict=True)
    cpu_cores: int = _count(MAX_CPU_CORES, low=1)
    total_memory_mb: int = Field(strict=True, gt=0, le=16 * MAX_MEMORY_MB)

    @field_validator("os_version", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # optional, so a null is no missing value but a wrong one
            raise _broken("must be a string, got null")
        return value

    @field_validator("hostname", "os")
    @classmethod
    def _texts(cls, value: str) -> str:
        _text(value)
        return value

    @field_validator("python_version", mode="wrap")
    @classmethod
    def _python(cls, value: object, handler: ValidatorFunctionWrapHandler) -> str:
        # Before the type's own checks: our words for the pattern rather than the pattern.
        text = _text(value)
        if text is not None and not re.match(PYTHON_VERSION_PATTERN, text):
            raise _broken(f"must look like 3.11.7, got {text!r}")
        checked: str = handler(value)
        return checked


def _by_version(schema: dict[str, Any]) -> None:
    """The JSON Schema's own words for what the model checks in code: v2.0 fields required
    unless schema_version is 1.0, and `_` keys allowed."""
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["required"] = [name for name in schema["required"] if name not in V2_FIELDS]
    schema["if"] = {
        "properties": {"schema_version": {"const": "1.0"}},
        "required": ["schema_version"],
    }
    schema["else"] = {"required": list(V2_FIELDS)}
    schema["patternProperties"] = {"^_": {}}


class RunRecordRules(BaseModel):
    """One run of the app (schema 2.0; 1.0 records have no retries, errors, resource_metrics or
    environment). Beyond this schema: run_id names a real UTC time, timestamp says its zone and
    is at most a day ahead, throughput_rpm agrees with total_records / total_duration_seconds x
    60, each peak is at least its average, and peak memory is at most the machine's. Keys
    starting with `_` are annotations (e.g. `_synthetic`), kept but not checked."""

    model_config = ConfigDict(title="run record", extra="forbid", json_schema_extra=_by_version)

    run_id: str = Field(strict=True, min_length=1, pattern=RUN_ID_PATTERN)
    timestamp: str = Field(
        strict=True, min_length=1, description="the UTC start, ISO-8601: 2026-01-01T12:00:00Z"
    )
    schema_version: Literal["1.0", "2.0"]
    sources_processed: int = _count(MAX_FILES)
    total_duration_seconds: float = Field(
        strict=True, gt=0, le=MAX_DURATION_SECONDS, allow_inf_nan=False
    )
    total_records: int = _count(MAX_RECORDS)
    throughput_rpm: float = _amount(MAX_THROUGHPUT_RPM)
    quality_pass_rate: float = _amount(1)
    retries: int = _count(MAX_RETRIES_OR_ERRORS)
    errors: int = _count(MAX_RETRIES_OR_ERRORS)
    # Before resource_metrics: the memory rule reads the machine's total.
    environment: EnvironmentRules | None = Field(None, validate_default=True)
    resource_metrics: ResourceRules | None = Field(None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = {key: value for key, value in data.items() if not str(key).startswith("_")}
        if fields.get("schema_version") == "1.0":
            for key in ("retries", "errors"):
                if fields.get(key) is None:
                    fields[key] = 0
        return fields

    @field_validator("run_id", mode="wrap")
    @classmethod
    def _run_id(cls, value: object, handler: ValidatorFunctionWrapHandler) -> str:
        # Before the type's own checks: our words for the pattern rather than the pattern.
        text = _text(value)
        if text is not None and not re.match(RUN_ID_PATTERN, text):
            raise _broken(f"must be YYYYMMDD_HHMMSS, got {text!r}")
        if text is not None:
            try:
                run_started_at(text)
            except ValueError:
                raise _broken(f"is not a real date and time: {text!r}") from None
        checked: str = handler(value)
        return checked

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, text: str, info: ValidationInfo) -> str:
        _text(text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _broken(f"must be ISO-8601 like 2026-01-01T12:00:00Z, got {text!r}") from None
        now = (info.context or {}).get("now") or datetime.now(UTC)
        if "T" not in text.upper():
            raise _broken(f"must be a date and time (YYYY-MM-DDTHH:MM:SSZ), got {text!r}")
        if moment.tzinfo is None:
            raise _broken(f"must say its zone (Z for UTC), got {text!r}")
        if moment - now > MAX_FUTURE:
            raise _broken(f"{text} is in the future")
        return text

    @field_validator("throughput_rpm")
    @classmethod
    def _throughput(cls, rpm: float, info: ValidationInfo) -> float:
        records = info.data.get("total_records")
        duration = info.data.get("total_duration_seconds")
        if records is None or duration is None:
            return rpm  # one of them is broken already: its own message says so
        expected = records * 60.0 / duration
        if abs(rpm - expected) > max(THROUGHPUT_SLACK_RPM, THROUGHPUT_TOLERANCE * expected):
            raise _broken(
                f"{rpm:g} does not match total_records / total_duration_seconds x 60"
                f" = {expected:.1f}"
            )
        return rpm

    @field_validator("environment", "resource_metrics")
    @classmethod
    def _required_in_v2(cls, value: BaseModel | None, info: ValidationInfo) -> BaseModel | None:
        if value is None and info.data.get("schema_version") != "1.0":
            raise _broken("required")
        return value

    @field_validator("resource_metrics")
    @classmethod
    def _within_the_machine(
        cls, resources: ResourceRules | None, info: ValidationInfo
    ) -> ResourceRules | None:
        machine = info.data.get("environment")
        if resources is not None and isinstance(machine, EnvironmentRules):
            peak, total = resources.memory.peak_mb, machine.total_memory_mb
            if peak > total:
                raise _broken(
                    f"{peak:g} is more than environment.total_memory_mb {total}",
                    at="memory.peak_mb",
                )
        return resources

    def to_record(self) -> RunRecord:
        """The app's RunRecord of this checked record."""
        res, env = self.resource_metrics, self.environment
        return RunRecord(
            run_id=self.run_id,
            timestamp=self.timestamp,
            schema_version=self.schema_version,
            sources_processed=self.sources_processed,
            total_duration_seconds=self.total_duration_seconds,
            total_records=self.total_records,
            throughput_rpm=self.throughput_rpm,
            quality_pass_rate=self.quality_pass_rate,
            retries=self.retries,
            errors=self.errors,
            resource_metrics=None
            if res is None
            else ResourceMetrics(
                CpuMetrics(res.cpu.peak_percent, res.cpu.avg_percent),
                MemoryMetrics(res.memory.peak_mb, res.memory.avg_mb),
                DiskMetrics(res.disk.read_mb, res.disk.write_mb),
            ),
            environment=None
            if env is None
            else Environment(
                env.python_version,
                env.hostname,
                env.os,
                env.os_version,
                env.cpu_cores,
                env.total_memory_mb,
            ),
        )


def record_schema() -> dict[str, Any]:
    """The JSON Schema of a run record."""
    return RunRecordRules.model_json_schema()


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _bound(value: object) -> str:
    """1.0 as 1, 6e7 as 60000000: bounds as a person writes them."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _message(error: ErrorDetails) -> str:
    """One problem in the words of this project (pydantic's own where they serve as well)."""
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    if kind == "rule":
        return str(ctx["message"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing" or value is None:
        return "required"
    if kind == "int_type" and type(value) is float:
        return f"must be a whole number, got {value!r}"
    if kind in ("int_type", "float_type"):
        return f"must be a number, got {_kind(value)} {value!r}"
    if kind == "finite_number":
        return f"must be finite, got {value!r}"
    limits = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<="}
    if kind in limits:
        (limit,) = ctx.values()
        return f"must be {limits[kind]} {_bound(limit)}, got {value!r}"
    if kind == "string_type":
        return f"must be a string, got {_kind(value)}"
    if kind == "string_too_short":
        return f"must be a non-empty string, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be an object, got {_kind(value)}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {value!r}"
    return error["msg"]


def _line(error: ErrorDetails) -> str:
    at = error.get("ctx", {}).get("at")
    path = ".".join(str(part) for part in (*error["loc"], *([at] if at else [])))
    return f"{path}: {_message(error)}"


def parse_record(document: object, now: datetime | None = None) -> RunRecord:
    """A checked RunRecord from one JSON object; InvalidRecordError lists every problem."""
    if not isinstance(document, dict):
        raise InvalidRecordError([f"record: must be a JSON object, got {_kind(document)}"])
    try:
        checked = RunRecordRules.model_validate(document, context={"now": now})
    except ValidationError as exc:
        raise InvalidRecordError([_line(error) for error in exc.errors()]) from None
    return checked.to_record()


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
