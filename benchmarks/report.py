"""The results as a Markdown table (sinks side by side) and as a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABELS = {"mysql": "MySQL (MariaDB)", "postgresql": "PostgreSQL"}
BASELINE_LABELS = {
    "spark_jdbc_append": "plain Spark `write.jdbc` append, default options, per file",
    "executemany": "mysql-connector `executemany` (10,000 rows a call)",
    "load_data": "bulk path: `LOAD DATA LOCAL INFILE` per file",
    "psql_copy": "bulk path: `psql \\copy` per file",
}
# The chart's short names.
SHORT = {
    "spark_jdbc_append": "Spark JDBC\nappend",
    "executemany": "executemany",
    "load_data": "LOAD DATA",
    "psql_copy": "psql \\copy",
}


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _profile(run: dict[str, Any]) -> str:
    p = run["profile"]
    interval = p["commit_interval_ms_p50"]
    return (
        f"{p['batches']} batches of {_n(p['rows_per_batch_p50'])} rows; p50 collect"
        f" {_n(p['collect_ms_p50'])} ms, commit {_n(p['commit_ms_p50'])} ms, total"
        f" {_n(p['total_ms_p50'])} ms"
        + (f", one commit every {_n(interval)} ms" if interval is not None else "")
        + f" (first batch {_n(p['first_batch_total_ms'])} ms); batches busy"
        f" {p['in_handler_share']:.0%} of the time (over 100 %: they overlap)"
        + (
            f"; after the first batch {_n(p['steady_rows_per_s'])} rows/s"
            if p.get("steady_rows_per_s")
            else ""
        )
    )


def _run(run: dict[str, Any]) -> str:
    return (
        f"**{_n(run['rows_per_s'])} rows/s** ({run['seconds']} s; {run['wall_s_with_startup']} s"
        f" with start-up; path {run['write_path']}); driver peak RSS {run['peak_rss_mb']} MB"
        f"{_parts(run)}"
    )


def _admission(per_trigger: str) -> str:
    if per_trigger == "default":
        return "default admission (every file, up to 256 MB a batch)"
    return f"{per_trigger} files/trigger"


def _large_file_cells(large: dict[str, Any]) -> list[tuple[str, str]]:
    cells = []
    for label, run in large.items():
        size = f"{run['bytes'] / 2**20:,.0f} MB, {_n(run['rows'])} rows"
        cells.append(
            (
                f"one large file ({label}): drop into a running stream -> every row committed",
                f"{size}: **{run['seconds']} s** ({_n(run['rows_per_s'])} rows/s,"
                f" {run['us_per_row']} µs/row = {run['time_per_row_vs_x1']}x x1);"
                f" **{run['ratio_to_bulk']}x** the bulk load's {run['bulk_seconds']} s;"
                f" peak RSS {run['peak_rss_mb']} MB{_parts(run)}; exact: {run['exact']}",
            )
        )
    return cells


def _catch_up_cells(catch: dict[str, Any]) -> list[tuple[str, str]]:
    cells = [("catch-up backlog", f"{_n(catch['rows'])} rows in {catch['files']} files")]
    for per_trigger, run in catch["pipeline"].items():
        admission = _admission(per_trigger)
        cells.append((f"catch-up, this pipeline, {admission}", _run(run)))
        cells.append((f"profile per batch, {admission}", _profile(run)))
    fallback = catch.get("fallback_insert")
    if fallback:
        cells.append(
            (
                "catch-up, fallback path (server with local_infile=0: INSERT IGNORE)",
                f"{_run(fallback)}; {fallback['ratio_to_load_data_path']}x the LOAD DATA path",
            )
        )
        cells.append(("profile per batch, fallback path", _profile(fallback)))
    for key, baseline in catch["baselines"].items():
        ratios = ", ".join(
            f"{ratio}x ({_admission(per_trigger)})"
            for per_trigger, ratio in baseline["pipeline_ratio"].items()
        )
        cells.append(
            (
                f"catch-up, {BASELINE_LABELS.get(key, key)}",
                f"{_n(baseline['rows_per_s'])} rows/s ({baseline['seconds']} s);"
                f" pipeline = {ratios}",
            )
        )
    return cells


def _cpu(seconds: dict[str, float]) -> str:
    return ", ".join(f"{part} {value:g}" for part, value in seconds.items())


def _ceilings_cells(ceiling: dict[str, Any]) -> list[tuple[str, str]]:
    read, write = ceiling["read"], ceiling["write"]
    admission = _admission(str(ceiling["files_per_trigger"]))
    return [
        (
            f"catch-up's halves alone, {admission}: Spark's read (no database, warm)",
            f"{_n(read['records_per_s'])} records/s ({read['warm']['seconds']} s;"
            f" CPU s: {_cpu(read['warm']['cpu_s'])}; cold pass {read['cold']['seconds']} s)",
        ),
        (
            f"catch-up's halves alone, {admission}: the database's write (no Spark)",
            f"{_n(write['rows_per_s'])} rows/s ({write['seconds']} s, a batch p50"
            f" {write['batch_s_p50']} s; CPU s: {_cpu(write['cpu_s'])})",
        ),
        (
            f"catch-up's bound on {ceiling['cores']} cores, {admission}",
            f"{_n(ceiling['bound_rows_per_s'])} rows/s (the longer half, or both halves'"
            " CPU over the cores)",
        ),
    ]


def _big_table_cells(big: dict[str, Any]) -> list[tuple[str, str]]:
    empty, full = big["empty"], big["preloaded"]
    return [
        (
            f"big table: catch-up at {big['files_per_trigger']} files/trigger into an empty events",
            f"{_n(empty['rows_per_s'])} rows/s (commit p50 {_n(empty['profile']['commit_ms_p50'])}"
            " ms)",
        ),
        (
            "big table: the same into events already holding N rows",
            f"N = {_n(big['preloaded_rows'])} ({big['table_mb_before']} MB):"
            f" {_n(full['rows_per_s'])} rows/s (commit p50 {_n(full['profile']['commit_ms_p50'])}"
            f" ms); **ratio {big['rows_per_s_ratio']}**, commit {big['commit_ms_ratio']}x;"
            f" {big['buffer_pool']}",
        ),
    ]


def _parts(run: dict[str, Any]) -> str:
    """` (jvm 1200, python driver 300, ...)`: the peak's parts, when measured."""
    parts = run.get("peak_rss_parts_mb") or {}
    return f" ({', '.join(f'{k} {v}' for k, v in parts.items())})" if parts else ""


def _freshness_cells(fresh: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            "freshness, default settings (file appears -> its rows committed)",
            f"{fresh['files']} files of {fresh['rows_per_file']} rows, one every"
            f" {fresh['interval_s']} s: **p50 {fresh['p50_s']} s, p95 {fresh['p95_s']} s, p99"
            f" {fresh['p99_s']} s**; batch handler p50 {fresh['handler_ms_p50']} ms, outside"
            f" it p50 {fresh['outside_handler_s_p50']} s; a batch committed every"
            f" {_n(fresh['profile']['commit_interval_ms_p50'])} ms (p50);"
            f" driver peak RSS {fresh['peak_rss_mb']} MB{_parts(fresh)}",
        ),
        (
            "first file after the stream is up -> committed",
            f"{fresh['first_file_s']} s (its batch handler {fresh['first_file_handler_ms']} ms)",
        ),
        (
            "users, products and events files dropped together (generator --entities):"
            " events file -> committed",
            f"{fresh['pairs']} drops: p50 {fresh['pair_events_p50_s']} s,"
            f" p95 {fresh['pair_events_p95_s']} s",
        ),
        (
            "Spark's phases per trigger with files, p50 (ms)",
            ", ".join(f"{k} {v:g}" for k, v in fresh["spark_phases_ms_p50"].items()) or "-",
        ),
    ]


def _history_cells(hist: dict[str, Any]) -> list[tuple[str, str]]:
    cells = []
    for key in [k for k in hist if k.startswith("after_")]:
        stage = hist[key]
        cells.append(
            (
                f"trigger latency after {key.removeprefix('after_')} processed files",
                f"p50 {stage['trigger_latency_p50_s']} s, max {stage['trigger_latency_max_s']} s"
                f" (batch {stage['batch_ms_p50']} ms); driver RSS {stage['driver_rss_mb']} MB",
            )
        )
    cells.append(("trigger latency ratio, large / small history", str(hist["latency_ratio"])))
    cells.append(
        (
            "input folder after archiving",
            f"{hist['files_left_in_input_dir']} files left, {hist['files_in_archive']} archived",
        )
    )
    return cells


CELLS = {
    "catch_up": _catch_up_cells,
    "ceilings": _ceilings_cells,
    "big_table": _big_table_cells,
    "freshness": _freshness_cells,
    "history": _history_cells,
    "large_file": _large_file_cells,
}


def _cells(results: dict[str, Any], sink: str) -> list[tuple[str, str]]:
    """(measurement, value) of one sink, in the table's order."""
    cells: list[tuple[str, str]] = []
    for scenario, build in CELLS.items():
        value = results.get(scenario, {}).get(sink)
        if not value:
            continue
        if "error" in value:
            cells.append((f"{scenario}: FAILED", str(value["error"]).splitlines()[0][:160]))
            continue
        try:
            cells += build(value)
        except (KeyError, TypeError) as exc:
            cells.append((f"{scenario}: unreadable result", f"missing {exc}"))
    return cells


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table, one column per sink."""
    sinks = [s for s in ("mysql", "postgresql") if s in results.get("servers", {})]
    by_sink = {sink: dict(_cells(results, sink)) for sink in sinks}
    labels: list[str] = []
    for sink in sinks:
        labels += [label for label in by_sink[sink] if label not in labels]
    lines = [
        "| measurement | " + " | ".join(LABELS[s] for s in sinks) + " |",
        "|---|" + "---|" * len(sinks),
    ]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(by_sink[s].get(label, "—") for s in sinks) + " |")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    """Catch-up bars per sink with the baselines; freshness; big table; history."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sinks = [s for s in ("mysql", "postgresql") if s in results.get("servers", {})]

    def ok(name: str, sink: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = results.get(name, {}).get(sink)
        return value if value and "error" not in value else None

    panels: list[tuple[str, Any]] = []
    for sink in sinks:
        catch = ok("catch_up", sink)
        if catch:
            panels.append(("catch", (sink, catch)))
    if any(ok("freshness", s) for s in sinks):
        panels.append(("fresh", None))
    if any(ok("big_table", s) for s in sinks):
        panels.append(("big", None))
    if any(ok("history", s) for s in sinks):
        panels.append(("hist", None))
    if not panels:
        return
    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.6 * rows), squeeze=False)
    flat = [axis for line in axes for axis in line]
    for axis in flat[len(panels) :]:
        axis.set_visible(False)
    for axis, (kind, data) in zip(flat, panels, strict=False):
        if kind == "catch":
            sink, catch = data
            names, values, colors = [], [], []
            for fpt, run in catch["pipeline"].items():
                names.append(f"pipeline\n{fpt}" + ("" if fpt == "default" else "/trigger"))
                values.append(run["rows_per_s"])
                colors.append("tab:green")
            if "fallback_insert" in catch:
                names.append("pipeline\nINSERT path")
                values.append(catch["fallback_insert"]["rows_per_s"])
                colors.append("tab:olive")
            for key, baseline in catch["baselines"].items():
                names.append(SHORT.get(key, key))
                values.append(baseline["rows_per_s"])
                colors.append("tab:blue" if key in ("load_data", "psql_copy") else "tab:gray")
            bars = axis.bar(names, values, color=colors)
            axis.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=7)
            axis.set(title=f"{LABELS[sink]}: catch-up of {catch['rows']:,} rows", ylabel="rows/s")
            axis.tick_params(axis="x", labelsize=8)
        elif kind == "fresh":
            for sink in sinks:
                fresh = ok("freshness", sink)
                if fresh:
                    series = fresh["latencies_s"]
                    axis.plot(range(1, len(series) + 1), series, marker=".", label=(
                        f"{LABELS[sink]}: p50 {fresh['p50_s']} s, p99 {fresh['p99_s']} s"
                    ))  # fmt: skip
            axis.set(title="Freshness: file appears -> rows committed", xlabel="file", ylabel="s")
            axis.legend(fontsize=8)
        elif kind == "big":
            labels, empty, full = [], [], []
            for sink in sinks:
                big = ok("big_table", sink)
                if big:
                    labels.append(f"{LABELS[sink]}\nN = {big['preloaded_rows']:,}")
                    empty.append(big["empty"]["rows_per_s"])
                    full.append(big["preloaded"]["rows_per_s"])
            positions = range(len(labels))
            axis.bar([p - 0.2 for p in positions], empty, width=0.4, label="empty events")
            axis.bar([p + 0.2 for p in positions], full, width=0.4, label="events holding N rows")
            axis.set_xticks(list(positions), labels)
            axis.set(title="Cost of a big table (catch-up)", ylabel="rows/s")
            axis.legend(fontsize=8)
        else:
            hist = next(h for h in (ok("history", s) for s in sinks) if h)
            stages = [key for key in hist if key.startswith("after_")]
            positions = range(len(stages))
            latency = [hist[key]["trigger_latency_p50_s"] for key in stages]
            batch = [hist[key]["batch_ms_p50"] / 1000 for key in stages]
            axis.bar([p - 0.2 for p in positions], latency, width=0.4, label="file -> commit, p50")
            axis.bar([p + 0.2 for p in positions], batch, width=0.4, label="batch work, p50")
            axis.set_xticks(
                list(positions), [f"after {k.removeprefix('after_')} files" for k in stages]
            )
            axis.set(title="Cost of history (MySQL, 1 file per trigger)", ylabel="s")
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
