"""`ingest-analytics REPORT`: business figures from the sink, as a table, CSV or JSON.

Reports (times are UTC; revenue is the sum of purchase prices):

- `top-products`: purchases per product, units and revenue, ranked by revenue (or
  `--by units`); name and category from `products` when the product's row is real.
- `funnel`: per UTC day, the distinct users who viewed, added to the cart and purchased, and
  the conversions view -> cart and cart -> purchase in percent. Counted from `events`
  (COUNT(DISTINCT user_id) per event_type and day): events_per_minute has no users.
- `spend-per-user`: the top users by purchase spend, with orders, average order and name and
  city from `users` when real; the table ends with the totals (buyers, orders, spend,
  average per buyer).
- `growth`: events and revenue per hour or day (`--by hour|day`), with the change against the
  previous period in percent; read from events_per_minute, so cheap on any volume. Periods
  without events between two that have some are shown with zeros.

`--limit N` (default 10): the top N products or users, or the last N days or periods.
`--format table` (aligned, numbers to the right, the default), `csv` or `json` (a list of
objects, decimals as strings); csv and json hold the rows only, not the totals line.
Exit codes: 0 done, 2 bad usage or a missing database setting, 3 the database unreachable or
failing. Before the stream has created its tables the report is empty.

This module is the command line only: the SQL and the read are in analytics_queries, the
reports shaped from the rows in analytics_reports, the three formats in analytics_render.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spark_app.commands.analytics_queries import fetch
from spark_app.commands.analytics_render import FORMATTERS
from spark_app.commands.analytics_reports import empty
from spark_app.common.database import SettingsError, sink_from_env
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_OK, EXIT_USAGE
from spark_app.common.numbers import positive_int
from spark_app.sink.drivers import connect, database_errors, is_missing_table

DEFAULT_LIMIT = 10
FORMATS = tuple(FORMATTERS)
REPORTS = ("top-products", "funnel", "spend-per-user", "growth")
# --by: what each report accepts, the first being its default; the others take none.
BY_CHOICES: dict[str, tuple[str, ...]] = {
    "top-products": ("revenue", "units"),
    "growth": ("day", "hour"),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="ingest-analytics",
        description="Business figures from the sink (MYSQL_* or PG* settings); times in UTC.",
        epilog="Exit codes: 0 done, 2 usage or settings, 3 the database.",
    )
    parser.add_argument("report", choices=REPORTS, help="which report")
    parser.add_argument("--format", choices=FORMATS, default="table", help="default table")
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help="top N products or users, or the last N days or periods (default 10)",
    )
    parser.add_argument(
        "--by",
        default=None,
        metavar="{revenue,units,hour,day}",
        help="top-products: revenue (default) or units; growth: hour or day (default day)",
    )
    return parser


def choose_by(parser: argparse.ArgumentParser, report: str, by: str | None) -> str:
    """The report's --by value, its default when not given; a usage error when not allowed."""
    choices = BY_CHOICES.get(report, ())
    if by is None:
        return choices[0] if choices else ""
    if not choices:
        parser.error(f"--by does not apply to {report}")
    if by not in choices:
        parser.error(f"--by for {report} must be one of {', '.join(choices)}, got {by!r}")
    return by


def main(argv: Sequence[str] | None = None) -> int:
    """Print one report; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    by = choose_by(parser, args.report, args.by)
    try:
        settings = sink_from_env(os.environ)
    except SettingsError as exc:
        print(f"analytics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with connect(settings) as handle:
            report = fetch(handle, settings.kind, args.report, by, args.limit)
    except database_errors() as exc:
        if not is_missing_table(exc):
            print(
                f"analytics: cannot use {settings.label} at {settings.address}: {summarize(exc)}",
                file=sys.stderr,
            )
            return EXIT_DATABASE
        print(f"analytics: no data yet ({summarize(exc)})", file=sys.stderr)
        report = empty(args.report, by, args.limit)
    print(FORMATTERS[args.format](report))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
