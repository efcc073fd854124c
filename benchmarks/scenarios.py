"""The measurements, each against fresh schemas of the benchmark's private servers.

Every figure of the pipeline comes from the real `spark-submit spark_app/main.py` and from
what it recorded in ingest_batches / ingest_files; the baselines load the same files.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import baselines, procs
from benchmarks.databases import Database, Schema
from benchmarks.preload import preload_events, table_mb
from spark_app.common.stats import percentile

log = logging.getLogger("benchmarks")

MAIN = "spark_app/main.py"
STARTED_LINE = "INFO spark_app: streaming"


@dataclass(frozen=True)
class Sizes:
    """How much each measurement processes."""

    fresh_files: int
    fresh_rows: int
    fresh_interval_s: float
    fresh_warmup: int
    # Generator runs with --entities (users, products and events files dropped together).
    fresh_pairs: int
    catchup_files: int
    catchup_rows: int
    files_per_trigger: tuple[int, ...]
    big_table_rows: int
    history_small: int
    history_large: int
    history_probes: int
    # One file of large_rows events, then files of that many times its rows.
    large_rows: int
    large_multiples: tuple[int, ...]
    # Then a file of that many times its rows with quoted fields spanning lines (0: none).
    large_quoted: int


FULL = Sizes(
    fresh_files=100,
    fresh_rows=21,
    fresh_interval_s=1.5,
    fresh_warmup=3,
    fresh_pairs=30,
    catchup_files=100,
    catchup_rows=10_000,
    files_per_trigger=(20, 4),
    big_table_rows=10_000_000,
    history_small=100,
    history_large=100_000,
    history_probes=20,
    large_rows=2_000_000,
    large_multiples=(8, 40),
    large_quoted=3,
)
QUICK = Sizes(
    fresh_files=5,
    fresh_rows=21,
    fresh_interval_s=1.0,
    fresh_warmup=2,
    fresh_pairs=3,
    catchup_files=8,
    catchup_rows=2_000,
    files_per_trigger=(20, 4),
    big_table_rows=20_000,
    history_small=10,
    history_large=60,
    history_probes=4,
    large_rows=30_000,
    large_multiples=(3,),
    large_quoted=2,
)


@dataclass(frozen=True)
class Context:
    """Where a benchmark run keeps its files and logs, its commands' environment, its sizes."""

    workdir: Path
    env: dict[str, str]
    sizes: Sizes

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def folder(self, name: str) -> Path:
        return self.workdir / name


# --- helpers ---------------------------------------------------------------------------------


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass  # the tables may not exist yet while the stream starts
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _ms(value: float) -> int:
    return round(value)


def _p(values: list[float], q: float, digits: int = 3) -> float | None:
    return round(percentile(values, q), digits) if values else None


def generate(
    ctx: Context, folder: Path, files: int, rows: int, *, seed: int = 1, interval: float = 0
) -> list[Path]:
    """The real generator (`python -m generator`), as fast as it goes unless told otherwise."""
    command = [sys.executable, "-m", "generator", "--output-dir", str(folder), "--files",
               str(files), "--events-per-file", str(rows), "--interval", str(interval),
               "--seed", str(seed), "--log-level", "WARNING"]  # fmt: skip
    procs.run(command, ctx.env, ctx.log("generator"), timeout=3600 + files * (interval + 5))
    return sorted(folder.glob("*.csv"))


def count_rows(files: list[Path]) -> int:
    """Data lines of the generated files (one header line each, no quoted newlines)."""
    total = 0
    for path in files:
        with path.open("rb") as handle:
            total += sum(1 for _ in handle) - 1
    return total


@dataclass(frozen=True)
class Batch:
    """One row of ingest_batches."""

    batch_id: int
    files: int
    rows_read: int
    stage_ms: int
    commit_ms: int
    total_ms: int
    committed_at: datetime
    write_path: str


def batches(schema: Schema) -> list[Batch]:
    rows = schema.rows(
        "SELECT batch_id, files, rows_read, stage_ms, commit_ms, total_ms, committed_at,"
        " write_path FROM ingest_batches ORDER BY committed_at"
    )
    return [
        Batch(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6], str(r[7]))
        for r in rows
    ]


def window_s(done: list[Batch]) -> float:
    """Seconds from the start of the first batch's handler to the last commit."""
    first, last = done[0], done[-1]
    return (last.committed_at - first.committed_at).total_seconds() + first.total_ms / 1000


def profile(done: list[Batch]) -> dict[str, Any]:
    """Per-batch medians: collect (stage_ms: Spark reads, parses, validates, Arrow to the
    driver), commit (the one transaction), total; and the time between one batch's commit and
    the next one's (the cycle), less that batch's handler: what Spark spends per trigger
    outside it (planning, listing, offset and commit logs) while a backlog waits."""
    pairs = list(itertools.pairwise(done))
    cycle = [
        (later.committed_at - earlier.committed_at).total_seconds() * 1000
        for earlier, later in pairs
    ]
    between = [ms - later.total_ms for ms, (_, later) in zip(cycle, pairs, strict=True)]
    handler_ms = sum(b.total_ms for b in done)
    return {
        "batches": len(done),
        "rows_per_batch_p50": _ms(percentile([b.rows_read for b in done], 50)),
        "files_per_batch_p50": _ms(percentile([b.files for b in done], 50)),
        "collect_ms_p50": _ms(percentile([b.stage_ms for b in done], 50)),
        "commit_ms_p50": _ms(percentile([b.commit_ms for b in done], 50)),
        "total_ms_p50": _ms(percentile([b.total_ms for b in done], 50)),
        "first_batch_total_ms": done[0].total_ms,
        "between_batches_ms_p50": _ms(percentile(between, 50)) if between else None,
        "commit_interval_ms_p50": _ms(percentile(cycle, 50)) if cycle else None,
        "in_handler_share": round(handler_ms / 1000 / window_s(done), 3),
        # Without the first batch, which pays for the Python workers and code generation.
        "steady_rows_per_s": (
            round(sum(b.rows_read for b in done[1:]) / (sum(cycle) / 1000)) if cycle else None
        ),
    }


def _write_path_logged(log_file: Path) -> str | None:
    match = re.search(r"write path: (\S+)", log_file.read_text(errors="replace"))
    return match.group(1) if match else None


def pipeline_catch_up(
    ctx: Context,
    schema: Schema,
    files: list[Path],
    rows: int,
    per_trigger: int | None,
    label: str,
    *extra: str,
) -> dict[str, Any]:
    """`spark-submit spark_app/main.py --available-now` over the backlog; rows/s of its batches.
    `per_trigger` None: the default admission (every file, up to the byte budget)."""
    log_file = ctx.log(label)
    admission = [] if per_trigger is None else ["--max-files-per-trigger", str(per_trigger)]
    args = ["--sink", schema.kind, "--input-dir", str(files[0].parent), "--checkpoint-dir",
            str(ctx.folder(f"{label}_checkpoint")), "--available-now", *admission,
            *extra]  # fmt: skip
    finished = procs.run(
        procs.spark_submit(MAIN, args), schema.env(ctx.env), log_file, timeout=3600 + rows / 100
    )
    done = batches(schema)
    read = sum(b.rows_read for b in done)
    if read != rows:
        raise RuntimeError(f"{label}: the pipeline read {read} rows of {rows}")
    seconds = window_s(done)
    paths = sorted({b.write_path for b in done})
    return {
        "files_per_trigger": per_trigger,
        "rows_per_s": round(rows / seconds),
        "seconds": round(seconds, 2),
        "wall_s_with_startup": round(finished.seconds, 1),
        "peak_rss_mb": round(finished.peak_mb),
        "peak_rss_parts_mb": finished.peak_parts_mb,
        "write_path": ",".join(paths),
        "write_path_logged": _write_path_logged(log_file),
        "rows_written": int(schema.scalar("SELECT COUNT(*) FROM events")),
        "profile": profile(done),
    }


# --- catch-up --------------------------------------------------------------------------------


def _spark_jdbc(ctx: Context, schema: Schema, files: list[Path], rows: int) -> dict[str, Any]:
    """Plain `write.jdbc(mode="append")`, one write per file; its write loop alone is timed."""
    baselines.create_plain_table(schema)
    log_file = ctx.log(f"catchup_{schema.kind}_spark_jdbc")
    jar = baselines.JDBC[schema.kind].jar()
    command = procs.spark_submit(
        "benchmarks/plain_spark_jdbc.py", ["--sink", schema.kind, *map(str, files)], jars=[jar]
    )
    finished = procs.run(command, schema.env(ctx.env, "owner"), log_file, 3600 + rows / 50)
    loaded = baselines.count_plain(schema)
    if loaded != rows:
        raise RuntimeError(f"plain Spark JDBC wrote {loaded} rows of {rows}")
    marker = re.search(
        re.escape(baselines.WRITES_MARKER) + r" ([0-9.]+)", log_file.read_text(errors="replace")
    )
    if marker is None:
        raise RuntimeError(f"plain Spark JDBC job printed no timing; see {log_file}")
    seconds = float(marker.group(1))
    return {
        "rows_per_s": round(rows / seconds),
        "seconds": round(seconds, 2),
        "wall_s_with_startup": round(finished.seconds, 1),
        "peak_rss_mb": round(finished.peak_mb),
        "jar": jar.name,
    }


def _timed(schema: Schema, rows: int, seconds: float) -> dict[str, Any]:
    loaded = baselines.count_plain(schema)
    if loaded != rows:
        raise RuntimeError(f"a baseline loaded {loaded} rows of {rows}")
    return {"rows_per_s": round(rows / seconds), "seconds": round(seconds, 2)}


def catch_up(
    ctx: Context, db: Database, files: list[Path], fallback: Database | None = None
) -> dict[str, Any]:
    """One backlog: the pipeline at each files-per-trigger, then the plain loaders, rows/s."""
    rows = count_rows(files)
    kind = db.kind
    result: dict[str, Any] = {"rows": rows, "files": len(files), "pipeline": {}, "baselines": {}}
    for per_trigger in ctx.sizes.files_per_trigger:
        log.info("  %s: pipeline, %d files/trigger", kind, per_trigger)
        schema = db.schema(f"pipe{per_trigger}")
        result["pipeline"][str(per_trigger)] = pipeline_catch_up(
            ctx, schema, files, rows, per_trigger, f"catchup_{kind}_{per_trigger}"
        )
    log.info("  %s: pipeline, default admission", kind)
    result["pipeline"]["default"] = pipeline_catch_up(
        ctx, db.schema("default"), files, rows, None, f"catchup_{kind}_default"
    )
    per_trigger = ctx.sizes.files_per_trigger[0]
    if fallback is not None:
        log.info("  %s: pipeline on local_infile=0, %d files/trigger", kind, per_trigger)
        label = f"catchup_{kind}_insert_{per_trigger}"
        run = pipeline_catch_up(ctx, fallback.schema("insert"), files, rows, per_trigger, label)
        if run["write_path_logged"] != "insert" or run["write_path"] != "insert":
            raise RuntimeError(
                f"local_infile=0: expected the insert path, the job logged"
                f" {run['write_path_logged']!r} and recorded {run['write_path']!r}"
            )
        main = result["pipeline"][str(per_trigger)]
        run["ratio_to_load_data_path"] = round(run["rows_per_s"] / main["rows_per_s"], 2)
        result["fallback_insert"] = run

    log.info("  %s: plain Spark JDBC append", kind)
    result["baselines"]["spark_jdbc_append"] = _spark_jdbc(ctx, db.schema("sparkjdbc"), files, rows)
    if kind == "mysql":
        log.info("  %s: mysql-connector executemany", kind)
        schema = db.schema("many")
        seconds = baselines.executemany_loader(schema, files)
        result["baselines"]["executemany"] = _timed(schema, rows, seconds)
        log.info("  %s: LOAD DATA LOCAL INFILE", kind)
        schema = db.schema("load")
        seconds = baselines.load_data_loader(schema, files)
        result["baselines"]["load_data"] = _timed(schema, rows, seconds)
    else:
        log.info("  %s: psql \\copy", kind)
        schema = db.schema("copy")
        seconds = baselines.psql_copy_loader(
            schema, files, ctx.env, ctx.log(f"catchup_{kind}_psql_copy")
        )
        result["baselines"]["psql_copy"] = _timed(schema, rows, seconds)

    for baseline in result["baselines"].values():
        baseline["pipeline_ratio"] = {
            per_trigger: round(run["rows_per_s"] / baseline["rows_per_s"], 3)
            for per_trigger, run in result["pipeline"].items()
        }
    return result


# --- one large file ---------------------------------------------------------------------------


def large_source(ctx: Context) -> Path:
    """One generated file of `large_rows` events (generated once for every sink)."""
    folder = ctx.folder("large_source")
    if not folder.exists():
        generate(ctx, folder, 1, ctx.sizes.large_rows)
    return next(folder.glob("*.csv"))


def _quoted(line: bytes) -> bytes:
    """The line with its product id (third field) quoted around a CRLF, a comma and a
    doubled quote: one record over two lines, as RFC 4180 allows."""
    event_id, user_id, product_id, rest = line.split(b",", 3)
    return b'%s,%s,"%s\r\n,""q",%s' % (event_id, user_id, product_id, rest)


def _multiplied(source: Path, times: int, target: Path, *, quoted: bool = False) -> Path:
    """A file of `times` copies of the source's rows, each copy's event ids made new with a
    two-digit prefix (and, if `quoted`, every third record's product id quoted around a line
    break); written block by block."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, target.open("wb") as writer:
        header = reader.readline()
        writer.write(header)
        number = 0
        for copy in range(times):
            reader.seek(len(header))
            prefix = b"%02d" % copy
            carry = b""
            while block := reader.read(64 << 20):
                lines = (carry + block).split(b"\n")
                carry = lines.pop()
                out = []
                for line in lines:
                    if line:
                        number += 1
                        out.append(prefix + (_quoted(line) if quoted and number % 3 == 0 else line))
                if out:
                    writer.write(b"\n".join(out) + b"\n")
            if carry:
                writer.write(prefix + carry + b"\n")
    return target


def _bulk_seconds(ctx: Context, db: Database, label: str, path: Path) -> float:
    schema = db.schema(f"bulk{label}")
    if db.kind == "mysql":
        return baselines.load_data_loader(schema, [path])
    return baselines.psql_copy_loader(schema, [path], ctx.env, ctx.log(f"large_{label}_copy"))


def _drop_into_running_stream(
    ctx: Context, db: Database, label: str, path: Path, rows: int
) -> dict[str, Any]:
    """The stream with its defaults, running; the file renamed in: drop -> every row committed."""
    schema = db.schema(f"large{label}")
    drop = ctx.folder(f"large_{db.kind}_{label}_drop")
    with _live_stream(ctx, schema, drop, f"large_{db.kind}_{label}") as rss:
        hidden = drop / f".{path.name}.part"
        os.link(path, hidden)  # the same bytes, no copy; then the atomic rename
        dropped = time.time()
        os.replace(hidden, drop / path.name)

        def committed() -> int:
            return int(schema.scalar("SELECT COALESCE(SUM(rows_read), 0) FROM ingest_batches"))

        _wait(lambda: committed() >= rows, 7200 + rows / 1000, "every row committed")
    last = schema.scalar("SELECT MAX(committed_at) FROM ingest_batches")
    seconds = last.replace(tzinfo=UTC).timestamp() - dropped
    written = int(schema.scalar("SELECT COUNT(*) FROM events"))
    rejected = int(schema.scalar("SELECT COUNT(*) FROM events_rejected"))
    return {
        "rows": rows,
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "us_per_row": round(seconds / rows * 1e6, 3),
        "peak_rss_mb": round(rss.peak_mb),
        "peak_rss_parts_mb": rss.peak_parts_mb,
        "written": written,
        "rejected": rejected,
        "exact": written + rejected == rows,
        "profile": profile(batches(schema)),
    }


def _large_run(ctx: Context, db: Database, label: str, path: Path, rows: int) -> dict[str, Any]:
    """The file through the stream, then through the database's own bulk load."""
    run = _drop_into_running_stream(ctx, db, label, path, rows)
    bulk = _bulk_seconds(ctx, db, label, path)
    run["bulk_seconds"] = round(bulk, 2)
    run["ratio_to_bulk"] = round(run["seconds"] / bulk, 2)
    return run


def large_file(ctx: Context, db: Database) -> dict[str, Any]:
    """One large plain file dropped into a running stream with its defaults, files of several
    times its size, and a quoted one, against the database's own bulk load of the same file."""
    source = large_source(ctx)
    result: dict[str, Any] = {}
    for times in (1, *ctx.sizes.large_multiples):
        label = f"x{times}"
        path = source if times == 1 else _multiplied(source, times, ctx.folder(label) / "big.csv")
        rows = count_rows([path])
        log.info("  %s: one file of %d rows (%d MB)", db.kind, rows, path.stat().st_size >> 20)
        result[label] = _large_run(ctx, db, label, path, rows)
        if times != 1:
            path.unlink()
    if ctx.sizes.large_quoted:
        times = ctx.sizes.large_quoted
        label = f"quoted{times}"
        path = _multiplied(source, times, ctx.folder(label) / "quoted.csv", quoted=True)
        rows = times * count_rows([source])  # records: a quoted one spans two lines
        log.info(
            "  %s: one quoted file of %d records (%d MB)", db.kind, rows, path.stat().st_size >> 20
        )
        result[label] = _large_run(ctx, db, label, path, rows)
        path.unlink()
    base = result["x1"]["us_per_row"]
    for run in result.values():
        run["time_per_row_vs_x1"] = round(run["us_per_row"] / base, 2)
    return result


# --- freshness -------------------------------------------------------------------------------


def _file_latencies(schema: Schema, mtimes: dict[str, float]) -> dict[str, float]:
    """Seconds from each file's appearance (mtime) to the commit of its rows."""
    committed = schema.rows(
        "SELECT source_file, MIN(t) FROM ("
        " SELECT source_file, ingested_at AS t FROM events"
        " UNION ALL SELECT source_file, rejected_at AS t FROM events_rejected) AS x"
        " GROUP BY source_file"
    )
    latencies = {}
    for source, at in committed:
        name = str(source).rsplit("/", 1)[-1]
        if name in mtimes:
            latencies[name] = at.replace(tzinfo=UTC).timestamp() - mtimes[name]
    return latencies


def _handler_ms(schema: Schema) -> dict[str, int]:
    """The batch handler's time (ingest_batches.total_ms) of the batch that read each file."""
    rows = schema.rows(
        "SELECT f.source_file, b.total_ms FROM ingest_files f JOIN ingest_batches b"
        " ON b.query_id = f.query_id AND b.batch_id = f.batch_id"
    )
    return {str(source).rsplit("/", 1)[-1]: int(ms) for source, ms in rows}


@contextmanager
def _live_stream(
    ctx: Context, schema: Schema, drop: Path, name: str, env: dict[str, str] | None = None
) -> Iterator[procs.PeakRss]:
    """The stream with its defaults over an empty drop folder, started (its start line
    logged) and sampled for its peak RSS; stopped on exit."""
    drop.mkdir()
    log_file = ctx.log(name)
    args = ["--sink", schema.kind, "--input-dir", str(drop), "--checkpoint-dir",
            str(ctx.folder(f"{name}_checkpoint"))]  # fmt: skip
    stream = procs.start(procs.spark_submit(MAIN, args), {**schema.env(ctx.env), **(env or {})},
                         log_file)  # fmt: skip
    try:
        with procs.PeakRss(stream.pid) as rss:
            _wait(lambda: STARTED_LINE in log_file.read_text(errors="replace"), 300, "the stream")
            yield rss
    finally:
        procs.stop(stream)


def _drop_files(
    ctx: Context, kind: str, drop: Path, files: int, rows: int, interval: float,
    *extra: str,
) -> None:  # fmt: skip
    """The generator, unseeded (new events every time), a file every `interval` seconds."""
    command = [sys.executable, "-m", "generator", "--output-dir", str(drop), "--files",
               str(files), "--events-per-file", str(rows), "--interval", str(interval),
               "--log-level", "WARNING", *extra]  # fmt: skip
    procs.run(command, ctx.env, ctx.log(f"freshness_{kind}_generator"), files * interval + 300)


def _csv_names(drop: Path) -> set[str]:
    return {path.name for path in drop.glob("*.csv")}


# The status line's medians of Spark's phases (telemetry/status.py).
PHASES_LINE = re.compile(r"phases p50 ms: (.*)$", re.MULTILINE)
# Status lines over this many batches each: the warm-up's first line is left out.
STATUS_EVERY = 10


def spark_phases(log_text: str) -> dict[str, float]:
    """Medians over the status lines after the first of each of Spark's phases (ms)."""
    found: dict[str, list[float]] = {}
    for line in PHASES_LINE.findall(log_text)[1:]:
        for part in line.split(", "):
            phase, value = part.rsplit(" ", 1)
            found.setdefault(phase, []).append(float(value))
    return {phase: round(percentile(values, 50), 1) for phase, values in found.items()}


def freshness(ctx: Context, db: Database) -> dict[str, Any]:
    """The stream with its defaults (every file that has arrived, a trigger every 0.1 s):
    the first file after the stream is up; then a file of `fresh_rows` events every
    `fresh_interval_s` (file appears -> rows committed); then the generator's users, products
    and events files dropped together, as `scripts/run` drops them (events file -> committed)."""
    sizes = ctx.sizes
    schema = db.schema("fresh")
    drop = ctx.folder(f"fresh_{db.kind}_drop")
    name = f"freshness_{db.kind}"
    with _live_stream(ctx, schema, drop, name, {"STATUS_EVERY_BATCHES": str(STATUS_EVERY)}) as rss:
        # The first file, dropped as soon as the stream says it is up: what a warm start buys.
        _drop_files(ctx, db.kind, drop, 1, sizes.fresh_rows, 0)
        first = _csv_names(drop)
        _wait(lambda: schema.files_committed() >= 1, 300, "the first file")
        _drop_files(ctx, db.kind, drop, sizes.fresh_warmup, sizes.fresh_rows, 0.5)
        _wait(lambda: schema.files_committed() >= 1 + sizes.fresh_warmup, 300, "the warm-up")
        before = _csv_names(drop)
        _drop_files(ctx, db.kind, drop, sizes.fresh_files, sizes.fresh_rows, sizes.fresh_interval_s)
        singles = _csv_names(drop) - before
        total = 1 + sizes.fresh_warmup + sizes.fresh_files
        _wait(lambda: schema.files_committed() >= total, 300, "every file committed")
        before = _csv_names(drop)
        _drop_files(ctx, db.kind, drop, sizes.fresh_pairs, sizes.fresh_rows,
                    sizes.fresh_interval_s, "--entities")  # fmt: skip
        dropped = _csv_names(drop) - before
        _wait(lambda: schema.files_committed() >= total + len(dropped), 300, "every pair")
    mtimes = {p.name: p.stat().st_mtime for p in drop.glob("*.csv")}
    paired = sorted(n for n in dropped if n.startswith("events_"))
    measured = sorted(singles)
    latencies = _file_latencies(schema, mtimes)
    if not all(n in latencies for n in [*first, *measured, *paired]):
        raise RuntimeError("some measured files have no committed rows")
    handler = _handler_ms(schema)
    values = [latencies[n] for n in measured]
    outside = [latencies[n] - handler[n] / 1000 for n in measured]
    in_handler = [float(handler[n]) for n in measured]
    pairs = [latencies[n] for n in paired]
    first_s = latencies[next(iter(first))]
    return {
        "files": len(values),
        "rows_per_file": sizes.fresh_rows,
        "interval_s": sizes.fresh_interval_s,
        "p50_s": _p(values, 50),
        "p95_s": _p(values, 95),
        "p99_s": _p(values, 99),
        "max_s": round(max(values), 3),
        "handler_ms_p50": _ms(percentile(in_handler, 50)),
        "outside_handler_s_p50": _p(outside, 50),
        "first_file_s": round(first_s, 3),
        "first_file_handler_ms": handler[next(iter(first))],
        "pairs": len(pairs),
        "pair_events_p50_s": _p(pairs, 50),
        "pair_events_p95_s": _p(pairs, 95),
        "spark_phases_ms_p50": spark_phases(ctx.log(name).read_text(errors="replace")),
        "peak_rss_mb": round(rss.peak_mb),
        "peak_rss_parts_mb": rss.peak_parts_mb,
        # The measured files' batches: their time between commits shows the cycle per trigger.
        "profile": profile(batches(schema)[1 + sizes.fresh_warmup : total]),
        "latencies_s": [round(v, 3) for v in values],
    }


# --- cost of a big table ---------------------------------------------------------------------


def big_table(
    ctx: Context, db: Database, files: list[Path], empty: dict[str, Any] | None
) -> dict[str, Any]:
    """The same catch-up into an events table that already holds N rows, against an empty
    one (`empty`: the catch-up scenario's run at the same files per trigger, if it ran)."""
    rows = count_rows(files)
    per_trigger = ctx.sizes.files_per_trigger[0]
    if empty is None:
        log.info("  %s: catch-up into an empty events table", db.kind)
        empty = pipeline_catch_up(
            ctx, db.schema("empty"), files, rows, per_trigger, f"big_{db.kind}_empty"
        )
    schema = db.schema("big")
    preloaded = ctx.sizes.big_table_rows
    log.info("  %s: preloading %d rows into events", db.kind, preloaded)
    preload_s = preload_events(schema, preloaded, ctx.folder(f"preload_{db.kind}"))
    settle_s = db.settle()
    size_mb = table_mb(schema)
    log.info("  %s: catch-up into the preloaded table (%.0f MB)", db.kind, size_mb)
    full = pipeline_catch_up(ctx, schema, files, rows, per_trigger, f"big_{db.kind}_preloaded")
    return {
        "preloaded_rows": preloaded,
        "preload_s": round(preload_s, 1),
        "preload_rows_per_s": round(preloaded / preload_s),
        "settle_s": round(settle_s, 1),
        "table_mb_before": size_mb,
        "buffer_pool": db.buffer_pool(),
        "files_per_trigger": per_trigger,
        "empty": empty,
        "preloaded": full,
        "rows_per_s_ratio": round(full["rows_per_s"] / empty["rows_per_s"], 3),
        "commit_ms_ratio": round(
            full["profile"]["commit_ms_p50"] / max(empty["profile"]["commit_ms_p50"], 1), 3
        ),
    }


# --- cost of history -------------------------------------------------------------------------


def _trigger_latency(
    ctx: Context, schema: Schema, args: list[str], drop: Path, probe: list[Path], label: str
) -> dict[str, Any]:
    """Start the stream on `args`, feed `probe` files one at a time, measure each trigger.

    The first probe file is a warm-up: the first batch after a start pays for the Python
    workers, connections and code generation, a start-up cost, not one of history.
    """
    log_file = ctx.log(f"history_{label}")
    stream = procs.start(procs.spark_submit(MAIN, args), schema.env(ctx.env), log_file)
    before = schema.files_committed()
    try:
        with procs.PeakRss(stream.pid) as rss:
            _wait(lambda: STARTED_LINE in log_file.read_text(errors="replace"), 300, "the stream")
            warmup, probe = probe[0], probe[1:]
            os.replace(warmup, drop / warmup.name)
            _wait(lambda: schema.files_committed() > before, 120, "the warm-up file")
            before += 1
            mtimes = {}
            for path in probe:
                target = drop / path.name
                os.utime(path)  # appearance time: a rename keeps the file's generation mtime
                os.replace(path, target)
                mtimes[path.name] = target.stat().st_mtime
                time.sleep(1.5)
            _wait(lambda: schema.files_committed() >= before + len(probe), 120, "the probe files")
            steady_rss = rss.last_mb
    finally:
        procs.stop(stream)
    latencies = list(_file_latencies(schema, mtimes).values())
    recent = schema.rows(
        "SELECT total_ms FROM ingest_batches ORDER BY committed_at DESC LIMIT %s", (len(probe),)
    )
    return {
        "trigger_latency_p50_s": _p(latencies, 50),
        "trigger_latency_max_s": round(max(latencies), 3),
        "batch_ms_p50": _ms(percentile([float(r[0]) for r in recent], 50)),
        "driver_rss_mb": round(steady_rss),
        "peak_rss_mb": round(rss.peak_mb),
    }


def history(ctx: Context, db: Database) -> dict[str, Any]:
    """Trigger latency and driver memory after `history_small` and `history_large` processed
    files, processed files archived (cleanSource=archive)."""
    small, large, probes = (
        ctx.sizes.history_small,
        ctx.sizes.history_large,
        ctx.sizes.history_probes,
    )
    schema = db.schema("hist")
    drop, archive = ctx.folder(f"hist_{db.kind}_drop"), ctx.folder(f"hist_{db.kind}_archive")
    later = ctx.folder(f"hist_{db.kind}_later")
    probe_dir = ctx.folder(f"hist_{db.kind}_probe")
    backlog = generate(ctx, drop, large, 21)
    # New events, not repeats of the backlog's.
    probe = generate(ctx, probe_dir, 2 * (probes + 1), 21, seed=2)
    checkpoint = ctx.folder(f"hist_{db.kind}_checkpoint")
    base = ["--sink", db.kind, "--input-dir", str(drop), "--checkpoint-dir", str(checkpoint),
            "--archive-dir", str(archive)]  # fmt: skip

    # The first `small` files, in big batches, then the probe.
    later.mkdir()
    for path in backlog[small:]:
        os.replace(path, later / path.name)
    fill = [*base, "--available-now", "--max-files-per-trigger", "50"]
    procs.run(procs.spark_submit(MAIN, fill), schema.env(ctx.env), ctx.log("history_fill_small"),
              timeout=3600)  # fmt: skip
    result: dict[str, Any] = {"probes": probes}
    first, second = probe[: probes + 1], probe[probes + 1 :]
    result[f"after_{small}"] = _trigger_latency(ctx, schema, base, drop, first, "small")

    for path in sorted(later.glob("*.csv")):
        os.replace(path, drop / path.name)
    fill = [*base, "--available-now", "--max-files-per-trigger", "1000"]
    procs.run(procs.spark_submit(MAIN, fill), schema.env(ctx.env), ctx.log("history_fill_large"),
              timeout=7200)  # fmt: skip
    result[f"after_{large}"] = _trigger_latency(ctx, schema, base, drop, second, "large")
    result["files_left_in_input_dir"] = len(list(drop.glob("*.csv")))
    result["files_in_archive"] = sum(1 for _ in archive.rglob("*.csv"))
    small_latency = result[f"after_{small}"]["trigger_latency_p50_s"]
    result["latency_ratio"] = round(
        result[f"after_{large}"]["trigger_latency_p50_s"] / small_latency, 2
    )
    return result


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
