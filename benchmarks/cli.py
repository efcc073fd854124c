"""`python -m benchmarks`: catch-up, freshness, cost of a big table and of history, per sink,
on private servers started for the run; prints a Markdown table, saves JSON and a PNG chart."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from benchmarks import ceilings, procs, report, scenarios
from benchmarks.databases import Database
from spark_app.common.database import SINKS, Kind

log = logging.getLogger("benchmarks")

SCENARIOS = ("catch_up", "ceilings", "big_table", "freshness", "history", "large_file")
# The cost of history is measured on one sink: it is Spark's file source that keeps history.
HISTORY_SINKS: tuple[Kind, ...] = ("mysql",)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _java_version(env: dict[str, str]) -> str | None:
    try:
        done = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, env=env, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stderr or done.stdout).splitlines()
    return lines[0].strip() if lines else None


def machine(env: dict[str, str]) -> dict[str, Any]:
    """What the numbers were measured on, and how busy the machine was when the run started."""
    import pyspark

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java_version(env),
        "pyspark": pyspark.__version__,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def _sinks(choice: str) -> list[Kind]:
    return list(SINKS) if choice == "both" else [kind for kind in SINKS if kind == choice]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--sink", choices=[*SINKS, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument(
        "--only",
        choices=SCENARIOS,
        action="append",
        default=None,
        help="run this scenario only (repeatable); the saved results of the others stay",
    )
    parser.add_argument(
        "--large-multiples",
        type=lambda text: tuple(int(part) for part in text.split(",") if part),
        default=None,
        help="large_file: the sizes after the first file, as multiples of it (default 8,40:"
        " about 1 GB and 5 GB at full size)",
    )
    parser.add_argument(
        "--large-quoted",
        type=int,
        default=None,
        help="large_file: then one file of this many times the first one's rows, every third"
        " record quoted around a line break (default 3: about 0.5 GB at full size; 0: none)",
    )
    parser.add_argument("--output-dir", type=Path, default=procs.REPO / "benchmarks" / "results")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep files, logs and server data"
    )
    return parser


class Runner:
    """Runs scenarios one sink at a time; a failure is recorded and the run goes on."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        self.failures = 0

    def measure(self, scenario: str, sink: str, work: Callable[[], dict[str, Any]]) -> None:
        log.info("%s on %s", scenario, sink)
        try:
            value = work()
        except Exception as exc:
            self.failures += 1
            log.error("%s on %s failed: %s", scenario, sink, exc)
            log.debug("%s", traceback.format_exc())
            value = {"error": f"{type(exc).__name__}: {exc}"[:4000]}
        self.results.setdefault(scenario, {})[sink] = value


def run(
    sinks: list[Kind], only: set[str], sizes: scenarios.Sizes, workdir: Path, runner: Runner
) -> None:
    """Start the servers, run the chosen scenarios on each sink, stop the servers."""
    env = procs.base_env(os.environ, workdir)
    ctx = scenarios.Context(workdir, env, sizes)
    ctx.log("x").parent.mkdir(parents=True)
    servers: dict[str, Database] = {}
    results = runner.results
    try:
        for kind in sinks:
            servers[kind] = Database.start(kind, workdir / kind)
            results.setdefault("servers", {})[kind] = {
                "version": servers[kind].version(),
                "buffer_pool": servers[kind].buffer_pool(),
            }
        backlog: list[Path] = []
        if only & {"catch_up", "ceilings", "big_table"}:
            log.info("backlog: %d files x %d rows", sizes.catchup_files, sizes.catchup_rows)
            backlog = scenarios.generate(
                ctx, ctx.folder("backlog"), sizes.catchup_files, sizes.catchup_rows
            )
        if "catch_up" in only:
            for kind in sinks:
                runner.measure("catch_up", kind, partial(_catch_up, ctx, servers[kind], backlog))
        if "ceilings" in only:
            chunks = workdir / "ceilings_chunks"
            read: dict[str, Any] = {}

            def both_halves(db: Database) -> dict[str, Any]:
                files = sizes.files_per_trigger[0]
                if not read:  # Spark's half once, for every sink
                    read.update(ceilings.read_alone(ctx, backlog, files, chunks))
                return ceilings.ceilings(db, backlog, files, read, chunks)

            for kind in sinks:
                runner.measure("ceilings", kind, partial(both_halves, servers[kind]))
        if "big_table" in only:
            for kind in sinks:
                catch = results.get("catch_up", {}).get(kind) if "catch_up" in only else None
                per_trigger = str(sizes.files_per_trigger[0])
                empty = (
                    catch["pipeline"].get(per_trigger) if catch and "error" not in catch else None
                )
                runner.measure(
                    "big_table",
                    kind,
                    partial(scenarios.big_table, ctx, servers[kind], backlog, empty),
                )
        if "freshness" in only:
            for kind in sinks:
                runner.measure("freshness", kind, partial(scenarios.freshness, ctx, servers[kind]))
        if "large_file" in only:
            for kind in sinks:
                runner.measure(
                    "large_file", kind, partial(scenarios.large_file, ctx, servers[kind])
                )
        if "history" in only:
            if not set(sinks) & set(HISTORY_SINKS):
                log.info("history: measured on %s only", ", ".join(HISTORY_SINKS))
            for kind in sinks:
                if kind in HISTORY_SINKS:
                    runner.measure("history", kind, partial(scenarios.history, ctx, servers[kind]))
    finally:
        for server in servers.values():
            server.stop()


def _catch_up(ctx: scenarios.Context, db: Database, backlog: list[Path]) -> dict[str, Any]:
    """The catch-up, and on MySQL the same at the first files per trigger on a second server
    started with local_infile off (the pipeline's INSERT fallback)."""
    if db.kind != "mysql":
        return scenarios.catch_up(ctx, db, backlog)
    fallback = Database.start(
        "mysql", ctx.workdir / "mysql-noinfile", "mysql local_infile=0",
        extra_args=("--local-infile=0",),
    )  # fmt: skip
    try:
        return scenarios.catch_up(ctx, db, backlog, fallback)
    finally:
        fallback.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[bench] %(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    sizes = scenarios.QUICK if args.quick else scenarios.FULL
    if args.large_multiples is not None:
        sizes = replace(sizes, large_multiples=args.large_multiples)
    if args.large_quoted is not None:
        sizes = replace(sizes, large_quoted=args.large_quoted)
    sinks = _sinks(args.sink)
    only = set(args.only or SCENARIOS)
    stem = "quick" if args.quick else "results"
    saved = args.output_dir / f"{stem}.json"
    results: dict[str, Any] = {}
    if saved.exists() and (args.only or args.sink != "both"):
        # Re-running some scenarios or one sink keeps the other results of the same size.
        results = json.loads(saved.read_text())
    results.update({"quick": args.quick, "sizes": asdict(sizes), "started": scenarios.now_iso()})
    workdir = Path(tempfile.mkdtemp(prefix="bench_"))
    results["machine"] = machine(procs.base_env(os.environ, workdir))
    runner = Runner(results)
    try:
        run(sinks, only, sizes, workdir, runner)
    finally:
        if args.keep_workdir:
            log.info("work folder kept: %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["finished"] = scenarios.now_iso()
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=2, default=str))
    report.chart(results, args.output_dir / f"{stem}.png")
    print(report.table(results))
    print(f"\nsaved {saved} and {stem}.png")
    if runner.failures:
        log.error("%d measurement(s) failed: see the table and %s", runner.failures, saved)
        return 1
    return 0
