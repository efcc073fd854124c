"""The report's arithmetic, its table and the chart file (a real PNG of the asked size)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image  # Pillow: a dependency of matplotlib

from spark_app.commands import report
from spark_app.commands.charts import render, run_starts
from spark_app.commands.report import summarize_runs, table
from spark_app.common.batch_metrics import BatchRow
from spark_app.common.stats import percentile

T0 = datetime(2026, 1, 1, 12, 0)


def batch(run_id: str, seconds: float, read: int = 21, rejected: int = 1, rate: float = 100.0,
          oldest: float | None = 2.0) -> BatchRow:  # fmt: skip
    return BatchRow(run_id, T0 + timedelta(seconds=seconds), read, rejected, rate, oldest, oldest)


def history() -> list[BatchRow]:
    first = [
        batch("20260101_120000", 20 * i, rate=10.0 * (i + 1), oldest=float(i)) for i in range(5)
    ]
    second = [batch("20260101_130000", 3600 + 20 * i, rejected=0) for i in range(3)]
    return first + second


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0, 5.0], 50) == 3.0
    assert percentile(list(map(float, range(101))), 95) == 95.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert (percentile([5.0, 1.0, 3.0], 0), percentile([5.0, 1.0, 3.0], 100)) == (1.0, 5.0)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_the_report_uses_the_one_percentile_definition() -> None:
    assert report.percentile is percentile


def test_summary_per_run() -> None:
    first, second = summarize_runs(history(), {"20260101_130000": ("finished", 55.5, 612.0)})
    assert (first.run_id, first.batches, first.rows) == ("20260101_120000", 5, 105)
    assert first.rate_p50 == 30.0
    assert first.fresh_p50 == 2.0
    assert first.fresh_p95 == pytest.approx(3.8)
    assert first.reject_share == pytest.approx(0.047619, abs=1e-6)  # 5 of 105 rows
    assert first.state is None
    assert (second.reject_share, second.state, second.cpu_peak) == (0.0, "finished", 55.5)


def test_summary_table_has_one_line_per_run() -> None:
    text = table(summarize_runs(history()))
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["run_id", "state", "batches", "rows"]
    assert lines[1].split()[:4] == ["20260101_120000", "-", "5", "105"]
    assert "4.8 %" in lines[1]
    assert len(lines) == 3


def test_run_boundaries_are_where_the_run_id_changes() -> None:
    assert [run_id for _, run_id in run_starts(history())] == ["20260101_120000", "20260101_130000"]


@pytest.mark.parametrize("size", [(1200, 900), (800, 600), (1000, 618)])
def test_chart_is_a_png_of_the_asked_size(tmp_path: Path, size: tuple[int, int]) -> None:
    path = render(history(), tmp_path / "deep" / "report.png", size)
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", size)


def test_chart_copes_with_batches_without_freshness(tmp_path: Path) -> None:
    rows = [batch("20260101_120000", i, read=0, rejected=0, oldest=None) for i in range(3)]
    with Image.open(render(rows, tmp_path / "r.png")) as image:
        assert (image.format, image.size) == ("PNG", (1200, 900))


def test_chart_needs_batches(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render([], tmp_path / "r.png")
