"""A report as text: an aligned table (with its footer), CSV or JSON (the rows only)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal

from spark_app.commands.analytics_reports import Cell, Report


def _text(value: Cell) -> str:
    return "-" if value is None else str(value)


def format_table(report: Report) -> str:
    """Aligned text: header, a rule, the rows (numbers to the right), then the footer."""
    header = [column.title for column in report.columns]
    body = [[_text(row.get(column.key)) for column in report.columns] for row in report.rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fit(cells: list[str]) -> str:
        pairs = zip(cells, widths, report.columns, strict=True)
        return "  ".join(c.rjust(w) if col.numeric else c.ljust(w) for c, w, col in pairs)

    lines = [fit(header).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [fit(cells).rstrip() for cells in body] or ["(no rows)"]
    if report.footer:
        lines += ["", *report.footer]
    return "\n".join(lines)


def format_csv(report: Report) -> str:
    """CSV with a header of column keys; an empty field for a missing value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.key for column in report.columns])
    for row in report.rows:
        writer.writerow(["" if row.get(c.key) is None else row.get(c.key) for c in report.columns])
    return buffer.getvalue().rstrip("\n")


def _json_value(value: Cell) -> str | int | None:
    return str(value) if isinstance(value, Decimal) else value


def format_json(report: Report) -> str:
    """A JSON list of objects keyed by column key; decimals as strings."""
    objects = [{c.key: _json_value(row.get(c.key)) for c in report.columns} for row in report.rows]
    return json.dumps(objects, indent=2, ensure_ascii=False)


# --format: the table is the default.
FORMATTERS: dict[str, Callable[[Report], str]] = {
    "table": format_table,
    "csv": format_csv,
    "json": format_json,
}
