"""Settings of the recorder and status line, and the status line's text."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_app.common.batch_metrics import RunTotals
from spark_app.common.database import DatabaseSettings
from spark_app.common.numbers import NumberError
from spark_app.telemetry.settings import observability_from_env
from spark_app.telemetry.status import StatusListener, phases_text, status_text

SETTINGS = DatabaseSettings("mysql", "127.0.0.1", 3306, "ingest", "app", "")


def test_defaults() -> None:
    settings = observability_from_env({})
    assert settings.history_file == Path("runs/history.json")
    assert (settings.record_interval, settings.sample_interval) == (60.0, 5.0)
    assert settings.status_every == 10


def test_environment_overrides() -> None:
    settings = observability_from_env(
        {"RUN_HISTORY_FILE": "/tmp/h.json", "RUN_RECORD_INTERVAL_SECONDS": "60",
         "RESOURCE_SAMPLE_SECONDS": "0.5", "STATUS_EVERY_BATCHES": "0"}
    )  # fmt: skip
    assert settings.history_file == Path("/tmp/h.json")
    assert (settings.record_interval, settings.sample_interval) == (60.0, 0.5)
    assert settings.status_every == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RUN_RECORD_INTERVAL_SECONDS", "soon", "RUN_RECORD_INTERVAL_SECONDS must be a number"),
        ("RUN_RECORD_INTERVAL_SECONDS", "0", "RUN_RECORD_INTERVAL_SECONDS must be >= 1"),
        ("RESOURCE_SAMPLE_SECONDS", "-1", "RESOURCE_SAMPLE_SECONDS must be >= 0.1"),
        ("RUN_RECORD_INTERVAL_SECONDS", "inf", "RUN_RECORD_INTERVAL_SECONDS must be a finite"),
        ("RESOURCE_SAMPLE_SECONDS", "nan", "RESOURCE_SAMPLE_SECONDS must be a finite number"),
        ("STATUS_EVERY_BATCHES", "2.5", "STATUS_EVERY_BATCHES must be a whole number"),
        ("STATUS_EVERY_BATCHES", "-1", "STATUS_EVERY_BATCHES must be >= 0"),
        ("STATUS_EVERY_BATCHES", "nan", "STATUS_EVERY_BATCHES must be a finite number"),
        ("STATUS_EVERY_BATCHES", "inf", "STATUS_EVERY_BATCHES must be a finite number"),
        ("STATUS_EVERY_BATCHES", "often", "STATUS_EVERY_BATCHES must be a number"),
    ],
)
def test_bad_values_name_the_variable(key: str, value: str, message: str) -> None:
    with pytest.raises(NumberError, match=f"^{message}"):
        observability_from_env({key: value})


def test_status_line() -> None:
    totals = RunTotals(batches=40, files=40, rows_read=840, rows_written=798, rows_rejected=42,
                       busy_ms=8400)  # fmt: skip
    assert status_text("20260101_120000", totals, 3) == (
        "status 20260101_120000: 40 batches, 840 rows, 100.0 rows/s, backlog 3 files,"
        " 42 rejected (5.0 %)"
    )
    assert "backlog ? files" in status_text("r", RunTotals(), None)


def test_phases_are_medians_in_the_order_spark_runs_them() -> None:
    durations = [
        {"triggerExecution": 400, "addBatch": 300, "latestOffset": 4, "walCommit": 10},
        {"triggerExecution": 500, "addBatch": 350, "latestOffset": 6, "walCommit": 12},
        {"triggerExecution": 900, "addBatch": 800, "latestOffset": 5},
    ]
    assert phases_text(durations) == (
        "phases p50 ms: latestOffset 5, walCommit 11, addBatch 350, triggerExecution 500"
    )
    assert phases_text([]) == ""


def _progress(batch: int, start: int | None, end: int, trigger_ms: int) -> dict[str, object]:
    """A progress as Spark's JSON has it: a rate that is not a number (the first batch's) is
    left out, an offset is a JSON value (null before the first batch)."""
    source = {
        "description": "FileStreamSource[file:/drop]",
        "startOffset": None if start is None else {"logOffset": start},
        "endOffset": {"logOffset": end},
        "latestOffset": None,
        "numInputRows": 0,
        "processedRowsPerSecond": 0.0,
        "metrics": {},
    }
    return {
        "id": "7f7d3a0e-8a4b-4a39-9a52-0d1f5c3f6c11",
        "batchId": batch,
        "durationMs": {"latestOffset": 10 + batch, "addBatch": 100, "triggerExecution": trigger_ms},
        "sources": [source],
        "sink": {"description": "ForeachBatchSink", "numOutputRows": -1},
    }


class _Recorded(StatusListener):
    """The listener, its status lines recorded instead of read from a database."""

    lines: list[str]

    def log_status(self) -> None:
        self.lines.append(phases_text(self._durations))
        self._durations = []


def test_the_status_line_counts_batches_whose_offsets_moved() -> None:
    listener = _Recorded(SETTINGS, "run", "/drop", every=2)
    listener.lines = []
    listener.progressed(_progress(0, None, 0, 300))
    listener.progressed(_progress(1, 0, 0, 5))  # no new file: not a batch with input
    assert listener.lines == []
    listener.progressed(_progress(2, 0, 1, 500))
    assert listener.lines == ["phases p50 ms: latestOffset 11, addBatch 100, triggerExecution 400"]
