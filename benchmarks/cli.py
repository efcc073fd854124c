"""`python -m benchmarks`: run the benchmarks on a private server, print and save the results."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks import scenarios
from localmysql import LocalServer, free_port

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("benchmarks")


@dataclass(frozen=True)
class Sizes:
    """How much each measurement processes."""

    fresh_files: int
    cadence: float
    catchup_files: int
    catchup_rows: int
    files_per_trigger: int
    history_small: int
    history_large: int


FULL = Sizes(100, 2.0, 100, 10_000, 20, 100, 10_000)
QUICK = Sizes(8, 1.0, 4, 2_000, 2, 10, 60)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = ["| measurement | value |", "|---|---|"]
    fresh = results.get("freshness")
    if fresh:
        lines.append(
            f"| freshness ({fresh['files']} files, one every {fresh['cadence_s']} s) |"
            f" p50 {fresh['p50_s']} s, p95 {fresh['p95_s']} s, p99 {fresh['p99_s']} s;"
            f" driver peak RSS {fresh['peak_rss_mb']} MB |"
        )
    catch = results.get("catch_up")
    if catch:
        ours = catch["pipeline"]
        lines.append(
            f"| catch-up, this pipeline ({catch['rows']:,} rows, {catch['files']} files,"
            f" {ours['files_per_trigger']} files/trigger) | {ours['rows_per_s']:,} rows/s"
            f" ({ours['seconds']} s; {ours['wall_s_with_startup']} s with start-up);"
            f" driver peak RSS {ours['peak_rss_mb']} MB |"
        )
        for key, label in (
            ("spark_jdbc_append", "plain Spark `write.jdbc` append, per file"),
            ("executemany", "mysql-connector `executemany`"),
            ("load_data", "`LOAD DATA LOCAL INFILE`"),
        ):
            other = catch[key]
            lines.append(
                f"| catch-up, {label} | {other['rows_per_s']:,} rows/s;"
                f" pipeline = {other['pipeline_ratio']}x |"
            )
    hist = results.get("history")
    if hist:
        for key, value in hist.items():
            if key.startswith("after_"):
                lines.append(
                    f"| per-trigger latency {key.replace('_', ' ')} processed files |"
                    f" p50 {value['trigger_latency_p50_s']} s (batch {value['batch_ms_p50']} ms);"
                    f" driver RSS {value['driver_rss_mb']} MB |"
                )
        lines.append(f"| latency ratio, large / small history | {hist['latency_ratio']} |")
        lines.append(
            f"| input folder after archiving | {hist['files_left_in_input_dir']} files left,"
            f" {hist['files_in_archive']} archived |"
        )
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    """Freshness, catch-up throughputs and the cost of history, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right, third) = plt.subplots(1, 3, figsize=(17, 4.5))
    fresh = results.get("freshness")
    if fresh:
        left.plot(range(1, len(fresh["latencies_s"]) + 1), fresh["latencies_s"], marker=".")
        for q in ("p50_s", "p99_s"):
            left.axhline(fresh[q], linestyle="--", linewidth=1, label=f"{q[:-2]} {fresh[q]} s")
        left.set(title="Freshness: file dropped -> rows committed", xlabel="file", ylabel="s")
        left.legend()
    catch = results.get("catch_up")
    if catch:
        names = ["pipeline", "spark_jdbc_append", "executemany", "load_data"]
        labels = ["this pipeline\n(exactly once)", "Spark JDBC\nappend", "executemany", "LOAD DATA"]
        values = [catch[n]["rows_per_s"] for n in names]
        right.bar(labels, values, color=["tab:green", "tab:gray", "tab:gray", "tab:blue"])
        right.set(title=f"Catch-up of {catch['rows']:,} rows", ylabel="rows/s")
    hist = results.get("history")
    if hist:
        stages = [key for key in hist if key.startswith("after_")]
        labels = [f"after {key.removeprefix('after_')} files" for key in stages]
        latency = [hist[key]["trigger_latency_p50_s"] for key in stages]
        batch = [hist[key]["batch_ms_p50"] / 1000 for key in stages]
        positions = range(len(stages))
        third.bar([p - 0.2 for p in positions], latency, width=0.4, label="file -> commit, p50")
        third.bar([p + 0.2 for p in positions], batch, width=0.4, label="batch work, p50")
        third.set_xticks(list(positions), labels)
        third.set(title="Cost of history (1 file per trigger)", ylabel="s")
        third.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument(
        "--only", choices=["freshness", "catch_up", "history"], action="append", default=None
    )
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--keep-workdir", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[bench] %(message)s")
    log.setLevel(logging.INFO)
    sizes = QUICK if args.quick else FULL
    only = set(args.only or ["freshness", "catch_up", "history"])
    workdir = Path(tempfile.mkdtemp(prefix="bench_"))
    env = dict(os.environ)
    env.pop("SPARK_HOME", None)
    server = LocalServer(workdir / "mysql", free_port())
    server.start()
    stem = "quick" if args.quick else "results"
    saved = args.output_dir / f"{stem}.json"
    results: dict[str, Any] = {}
    if args.only and saved.exists():
        # Re-running some scenarios keeps the others' latest results.
        results = json.loads(saved.read_text())
    results.update({"machine": machine(), "quick": args.quick, "sizes": asdict(sizes)})
    try:
        ctx = scenarios.Context(server, workdir, env)
        if "freshness" in only:
            log.info("freshness: %d files, one every %s s", sizes.fresh_files, sizes.cadence)
            results["freshness"] = scenarios.freshness(ctx, sizes.fresh_files, sizes.cadence)
        if "catch_up" in only:
            log.info("catch-up: %d files x %d rows", sizes.catchup_files, sizes.catchup_rows)
            files = scenarios.generate(
                ctx, workdir / "backlog", sizes.catchup_files, sizes.catchup_rows
            )
            results["catch_up"] = scenarios.catch_up(ctx, files, sizes.files_per_trigger)
        if "history" in only:
            log.info("history: %d then %d files", sizes.history_small, sizes.history_large)
            results["history"] = scenarios.history(ctx, sizes.history_small, sizes.history_large)
    finally:
        server.stop()
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["finished"] = scenarios.now_iso()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=2))
    chart(results, args.output_dir / f"{stem}.png")
    print(table(results))
    print(f"\nsaved {args.output_dir / (stem + '.json')} and {stem}.png")
    return 0
