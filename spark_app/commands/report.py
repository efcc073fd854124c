"""`ingest-report`: a chart and a summary table of the last runs' batches.

Reads ingest_batches (every batch of the last N runs) and pipeline_runs (the runs' records),
writes the chart as a PNG and prints one line per run. With no batch recorded yet it says so,
writes no chart and exits 0. Exit codes: 0 done (or nothing to report), 2 bad usage or a missing
database setting, 3 the database unreachable or failing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_app.commands import charts
from spark_app.common import batch_metrics as batchstats
from spark_app.common.batch_metrics import BatchRow
from spark_app.common.database import SettingsError, sink_from_env
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_OK, EXIT_USAGE
from spark_app.common.numbers import positive_int
from spark_app.common.stats import percentile
from spark_app.sink.drivers import connect, database_errors, is_missing_table

DEFAULT_OUTPUT = "runs/report.png"


@dataclass(frozen=True)
class RunSummary:
    """One line of the summary table."""

    run_id: str
    batches: int
    rows: int
    rate_p50: float
    fresh_p50: float | None
    fresh_p95: float | None
    reject_share: float
    state: str | None = None
    cpu_peak: float | None = None
    memory_peak_mb: float | None = None


def summarize_runs(
    batches: Sequence[BatchRow], runs: dict[str, tuple[Any, ...]] | None = None
) -> list[RunSummary]:
    """Per run, in order of first commit: batches, rows, rows/s p50, freshness p50/p95."""
    grouped: dict[str, list[BatchRow]] = {}
    for batch in batches:
        grouped.setdefault(batch.run_id, []).append(batch)
    summaries = []
    for run_id, rows in grouped.items():
        ages = [b.oldest_file_age_s for b in rows if b.oldest_file_age_s is not None]
        read = sum(b.rows_read for b in rows)
        state, cpu, memory = (runs or {}).get(run_id, (None, None, None))
        summaries.append(
            RunSummary(
                run_id=run_id,
                batches=len(rows),
                rows=read,
                rate_p50=percentile([b.rows_per_second for b in rows], 50),
                fresh_p50=percentile(ages, 50) if ages else None,
                fresh_p95=percentile(ages, 95) if ages else None,
                reject_share=sum(b.rows_rejected for b in rows) / read if read else 0.0,
                state=state,
                cpu_peak=None if cpu is None else float(cpu),
                memory_peak_mb=None if memory is None else float(memory),
            )
        )
    return summaries


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(summaries: Sequence[RunSummary]) -> str:
    """The summary as aligned text, one run per line."""
    header: tuple[str, ...] = ("run_id", "state", "batches", "rows", "rows/s p50", "fresh p50 s")
    header += ("fresh p95 s", "rejected", "cpu peak %", "mem peak MB")
    lines = [header] + [
        (
            s.run_id,
            s.state or "-",
            str(s.batches),
            str(s.rows),
            f"{s.rate_p50:.1f}",
            _cell(s.fresh_p50, ".1f"),
            _cell(s.fresh_p95, ".1f"),
            f"{100 * s.reject_share:.1f} %",
            _cell(s.cpu_peak, ".1f"),
            _cell(s.memory_peak_mb, ".0f"),
        )
        for s in summaries
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fit(cells: tuple[str, ...]) -> str:
        # Text columns (run id, state) to the left, numbers to the right.
        pairs = zip(cells, widths, strict=True)
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(pairs))

    return "\n".join(fit(line).rstrip() for line in lines)


def _run_details(handle: Any, run_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """state, cpu peak and memory peak of runs that have a record in pipeline_runs."""
    if not run_ids:
        return {}
    marks = ", ".join(["%s"] * len(run_ids))
    cursor = handle.cursor()
    try:
        cursor.execute(
            "SELECT run_id, state, cpu_peak_percent, memory_peak_mb FROM pipeline_runs"
            f" WHERE run_id IN ({marks})",
            tuple(run_ids),
        )
    except database_errors() as exc:
        if is_missing_table(exc):
            handle.rollback()
            return {}
        raise
    return {str(row[0]): tuple(row[1:]) for row in cursor.fetchall()}


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT in pixels, got {text}") from None
    if not (200 <= width <= 10_000 and 200 <= height <= 10_000):
        raise argparse.ArgumentTypeError(f"each side must be 200-10000 pixels, got {text}")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="ingest-report",
        description="Chart and summarize the batches of the last runs (MYSQL_* or PG* settings).",
        epilog="Exit codes: 0 done or nothing to report, 2 usage or settings, 3 the database.",
    )
    parser.add_argument("--output", type=Path, default=Path(DEFAULT_OUTPUT), help="PNG file")
    parser.add_argument("--last", type=positive_int, default=10, help="how many runs (default 10)")
    parser.add_argument(
        "--size", type=_size, default=charts.DEFAULT_SIZE, help="chart pixels, default 1200x900"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary and write the chart; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = sink_from_env(os.environ)
    except SettingsError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with connect(settings) as handle:
            try:
                batches = batchstats.batches_of_last_runs(handle, args.last)
            except database_errors() as exc:
                if not is_missing_table(exc):
                    raise
                handle.rollback()
                batches = []
            runs = _run_details(handle, sorted({b.run_id for b in batches}))
    except database_errors() as exc:
        print(
            f"report: cannot use {settings.label} at {settings.address}: {summarize(exc)}",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    if not batches:
        print(f"no batches recorded yet in {settings.database}.ingest_batches: nothing to report")
        return EXIT_OK
    print(table(summarize_runs(batches, runs)))
    path = charts.render(batches, args.output, args.size)
    print(f"chart: {path} ({args.size[0]}x{args.size[1]} px, {len(batches)} batches)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
