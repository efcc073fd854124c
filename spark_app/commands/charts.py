"""The throughput chart: rows/s, freshness and rejected share per batch, runs marked.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no display, no global state),
at exactly width x height pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

from spark_app.common.batch_metrics import BatchRow

DPI = 100
DEFAULT_SIZE = (1200, 900)


def run_starts(batches: Sequence[BatchRow]) -> list[tuple[datetime, str]]:
    """Where the run id changes: (commit time of the run's first batch, run id)."""
    starts: list[tuple[datetime, str]] = []
    for batch in batches:
        if not starts or starts[-1][1] != batch.run_id:
            starts.append((batch.committed_at, batch.run_id))
    return starts


def reject_share_percent(batch: BatchRow) -> float:
    """Rejected rows of a batch, in percent of the rows it read."""
    return 100.0 * batch.rows_rejected / batch.rows_read if batch.rows_read else 0.0


def _by_run(batches: Sequence[BatchRow]) -> list[list[BatchRow]]:
    """Consecutive batches of the same run, so lines do not join across a run boundary."""
    groups: list[list[BatchRow]] = []
    for batch in batches:
        if not groups or groups[-1][-1].run_id != batch.run_id:
            groups.append([])
        groups[-1].append(batch)
    return groups


def _plot(
    ax: Axes,
    groups: list[list[BatchRow]],
    value: Callable[[BatchRow], float | None],
    color: str,
    label: str | None = None,
) -> None:
    """One line per run of `value` over commit time; batches without a value are skipped."""
    for number, group in enumerate(groups):
        points = [(b.committed_at, value(b)) for b in group]
        present = [(moment, v) for moment, v in points if v is not None]
        if present:
            times, values = zip(*present, strict=True)
            name = label if number == 0 else None
            ax.plot(times, values, ".-", color=color, lw=0.8, ms=3, label=name)


def _mark_runs(axes: Sequence[Axes], starts: list[tuple[datetime, str]]) -> None:
    for moment, run_id in starts:
        x = float(date2num(moment))  # type: ignore[no-untyped-call]
        for ax in axes:
            ax.axvline(x, color="0.45", linestyle="--", linewidth=0.9)
        axes[0].annotate(
            run_id,
            xy=(x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize=7,
            color="0.3",
        )


def render(batches: Sequence[BatchRow], path: Path, size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """Write the chart of `batches` (oldest first, not empty) as a PNG of `size` pixels."""
    if not batches:
        raise ValueError("no batches to draw")
    width, height = size
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    rate_ax, fresh_ax, reject_ax = figure.subplots(3, 1, sharex=True)
    groups = _by_run(batches)
    _plot(rate_ax, groups, lambda b: b.rows_per_second, "tab:blue")
    rate_ax.set_ylabel("rows / s")
    rate_ax.set_ylim(bottom=0)
    rate_ax.set_title("throughput per batch (rows read / batch time)", loc="left", fontsize=9)
    _plot(fresh_ax, groups, lambda b: b.oldest_file_age_s, "tab:red", "oldest file")
    _plot(fresh_ax, groups, lambda b: b.newest_file_age_s, "tab:orange", "newest file")
    fresh_ax.set_ylabel("age at commit (s)")
    fresh_ax.set_ylim(bottom=0)
    fresh_ax.set_title("freshness: file age when its batch committed", loc="left", fontsize=9)
    if fresh_ax.get_legend_handles_labels()[0]:
        fresh_ax.legend(loc="upper left", fontsize=8)
    _plot(reject_ax, groups, reject_share_percent, "tab:purple")
    reject_ax.set_ylabel("rejected (%)")
    reject_ax.set_title("rejected share of rows read", loc="left", fontsize=9)
    reject_ax.set_ylim(bottom=0)
    # matplotlib.dates has no type hints.
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    reject_ax.xaxis.set_major_locator(locator)
    reject_ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    reject_ax.set_xlabel("commit time (UTC)")
    for ax in (rate_ax, fresh_ax, reject_ax):
        ax.grid(True, alpha=0.3)
    starts = run_starts(batches)
    _mark_runs((rate_ax, fresh_ax, reject_ax), starts)
    times = [batches[0].committed_at, batches[-1].committed_at]
    figure.suptitle(
        f"stream-ingest: {len(batches)} batches in {len(starts)} run(s),"
        f" {times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M} UTC",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path
