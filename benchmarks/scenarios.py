"""The three measurements, each against a fresh schema of the benchmark's private server."""

from __future__ import annotations

from spark_app.common.stats import percentile
import os
import re
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import baselines, procs
from localmysql import AppAccount, LocalServer


@dataclass(frozen=True)
class Context:
    """Where a benchmark run keeps its server, files and logs."""

    server: LocalServer
    workdir: Path
    base_env: dict[str, str]

    def account(self, label: str) -> AppAccount:
        name = f"b_{label}_{uuid.uuid4().hex[:6]}"
        return self.server.create_account(name, name)

    def env(self, account: AppAccount, **extra: str) -> dict[str, str]:
        return {**self.base_env, **account.environ(), **extra}

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"


def _scalar(account: AppAccount, sql: str) -> Any:
    connection = baselines.connect(account)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        row = cursor.fetchone()
        return row[0] if row else None
    finally:
        connection.close()


def _rows(account: AppAccount, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    connection = baselines.connect(account)
    try:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        connection.close()


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"timed out waiting for {what}")


def generate(
    ctx: Context, folder: Path, files: int, rows: int, *extra: str, seed: int = 1
) -> list[Path]:
    """The real generator, as fast as it goes."""
    command = [sys.executable, "-m", "generator", "--output-dir", str(folder), "--files",
               str(files), "--events-per-file", str(rows), "--interval", "0", "--seed",
               str(seed), "--log-level", "WARNING", *extra]  # fmt: skip
    procs.run(command, ctx.base_env, ctx.log("generator"), timeout=3600)
    return sorted(folder.glob("*.csv"))


def _file_latencies(account: AppAccount, mtimes: dict[str, float]) -> list[float]:
    """Seconds from each file's appearance (mtime) to its rows' commit."""
    committed = _rows(
        account,
        "SELECT source_file, MIN(t) FROM ("
        " SELECT source_file, ingested_at AS t FROM events"
        " UNION ALL SELECT source_file, rejected_at FROM events_rejected) AS x"
        " GROUP BY source_file",
    )
    latencies = []
    for source, at in committed:
        name = str(source).rsplit("/", 1)[-1]
        if name in mtimes:
            latencies.append(at.replace(tzinfo=UTC).timestamp() - mtimes[name])
    return latencies


def _wait_started(log: Path) -> None:
    """Until the stream's start line is in its log, plus a moment for its first trigger."""
    _wait(lambda: "INFO spark_app: streaming" in log.read_text(errors="replace"), 300,
          "the stream to start")  # fmt: skip
    time.sleep(2)


def _stop(process: Any) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(120)


def freshness(ctx: Context, files: int, cadence: float) -> dict[str, Any]:
    """The stream with default settings, a file every `cadence` s: file -> committed rows."""
    account = ctx.account("fresh")
    drop, checkpoint = ctx.workdir / "fresh_drop", ctx.workdir / "fresh_checkpoint"
    drop.mkdir()
    env = ctx.env(account)
    stream = procs.start(
        ["spark-submit", "spark_app/main.py", "--input-dir", str(drop),
         "--checkpoint-dir", str(checkpoint)],
        env, ctx.log("freshness_stream"),
    )  # fmt: skip
    with procs.PeakRss(stream.pid) as rss:
        _wait_started(ctx.log("freshness_stream"))
        warmup = 3
        generator = procs.start(
            [sys.executable, "-m", "generator", "--output-dir", str(drop), "--files",
             str(files + warmup), "--interval", str(cadence), "--log-level", "WARNING"],
            ctx.base_env, ctx.log("freshness_generator"),
        )  # fmt: skip
        generator.wait(files * cadence * 3 + 120)
        total = files + warmup
        _wait(
            lambda: _scalar(account, "SELECT COALESCE(SUM(files), 0) FROM ingest_batches") >= total,
            120, "every file committed",
        )  # fmt: skip
        _stop(stream)
    mtimes = {p.name: p.stat().st_mtime for p in drop.glob("*.csv")}
    measured = sorted(mtimes)[warmup:]
    latencies = _file_latencies(account, {name: mtimes[name] for name in measured})
    return {
        "files": len(latencies),
        "cadence_s": cadence,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "p99_s": round(percentile(latencies, 99), 3),
        "max_s": round(max(latencies), 3),
        "peak_rss_mb": round(rss.peak_mb),
        "latencies_s": [round(v, 3) for v in latencies],
    }


def _pipeline_window(account: AppAccount) -> tuple[int, float]:
    """Rows read and seconds from the first batch's start to the last commit."""
    rows, first, last, first_ms = _rows(
        account,
        "SELECT SUM(rows_read), MIN(committed_at), MAX(committed_at),"
        " (SELECT total_ms FROM ingest_batches ORDER BY committed_at LIMIT 1) FROM ingest_batches",
    )[0]
    seconds = (last - first).total_seconds() + int(first_ms) / 1000
    return int(rows), seconds


def catch_up(ctx: Context, files: list[Path], files_per_trigger: int) -> dict[str, Any]:
    """One backlog, four loaders, rows/s each; the pipeline keeps its exactly-once guarantee."""
    rows = sum(1 for path in files for _ in path.open()) - len(files)
    results: dict[str, Any] = {"rows": rows, "files": len(files)}

    account = ctx.account("pipe")
    wall, peak = procs.run(
        ["spark-submit", "spark_app/main.py", "--input-dir", str(files[0].parent),
         "--checkpoint-dir", str(ctx.workdir / "catchup_checkpoint"), "--available-now",
         "--max-files-per-trigger", str(files_per_trigger)],
        ctx.env(account), ctx.log("catchup_pipeline"), timeout=7200,
    )  # fmt: skip
    read, seconds = _pipeline_window(account)
    assert read == rows, f"pipeline read {read} rows of {rows}"
    results["pipeline"] = {
        "rows_per_s": round(rows / seconds),
        "seconds": round(seconds, 1),
        "wall_s_with_startup": round(wall, 1),
        "peak_rss_mb": round(peak),
        "files_per_trigger": files_per_trigger,
    }

    account = ctx.account("spark")
    baselines.create_plain_table(account)
    wall, peak = procs.run(
        ["spark-submit", "benchmarks/plain_spark_jdbc.py", *map(str, files)],
        ctx.env(account), ctx.log("catchup_spark_jdbc"), timeout=7200,
    )  # fmt: skip
    assert baselines.count_plain(account) == rows
    marker = re.search(
        re.escape(baselines.WRITES_MARKER) + r" ([0-9.]+)",
        ctx.log("catchup_spark_jdbc").read_text(errors="replace"),
    )
    assert marker, "plain Spark JDBC job printed no timing"
    seconds = float(marker.group(1))
    results["spark_jdbc_append"] = {
        "rows_per_s": round(rows / seconds),
        "seconds": round(seconds, 1),
        "wall_s_with_startup": round(wall, 1),
        "peak_rss_mb": round(peak),
    }

    account = ctx.account("many")
    seconds = baselines.executemany_loader(account, files)
    assert baselines.count_plain(account) == rows
    results["executemany"] = {"rows_per_s": round(rows / seconds), "seconds": round(seconds, 1)}

    account = ctx.account("load")
    seconds = baselines.load_data_loader(account, files)
    assert baselines.count_plain(account) == rows
    results["load_data"] = {"rows_per_s": round(rows / seconds), "seconds": round(seconds, 1)}

    ours = results["pipeline"]["rows_per_s"]
    for key in ("spark_jdbc_append", "executemany", "load_data"):
        results[key]["pipeline_ratio"] = round(ours / results[key]["rows_per_s"], 2)
    return results


def _trigger_latency(
    ctx: Context, account: AppAccount, args: list[str], drop: Path, probe: list[Path], label: str
) -> dict[str, Any]:
    """Start the stream on `args`, feed `probe` files one at a time, measure each trigger.

    The first probe file is a warm-up: the first batch after a start pays for the Python
    workers, JDBC connections and code generation, a start-up cost, not one of history.
    """
    stream = procs.start(["spark-submit", "spark_app/main.py", *args], ctx.env(account),
                         ctx.log(f"history_{label}"))  # fmt: skip
    before = int(_scalar(account, "SELECT COALESCE(SUM(files), 0) FROM ingest_batches"))
    with procs.PeakRss(stream.pid) as rss:
        _wait_started(ctx.log(f"history_{label}"))
        warmup, probe = probe[0], probe[1:]
        os.replace(warmup, drop / warmup.name)
        _wait(
            lambda: int(_scalar(account, "SELECT COALESCE(SUM(files), 0) FROM ingest_batches"))
            > before,
            120, "warm-up file committed",
        )  # fmt: skip
        before += 1
        mtimes = {}
        for path in probe:
            target = drop / path.name
            os.utime(path)  # appearance time: a rename keeps the file's generation mtime
            os.replace(path, target)
            mtimes[path.name] = target.stat().st_mtime
            time.sleep(1.5)
        _wait(
            lambda: int(_scalar(account, "SELECT COALESCE(SUM(files), 0) FROM ingest_batches"))
            >= before + len(probe),
            120, "probe files committed",
        )  # fmt: skip
        steady_rss = rss.last_mb
        _stop(stream)
    latencies = _file_latencies(account, mtimes)
    recent = "SELECT total_ms FROM ingest_batches ORDER BY committed_at DESC LIMIT %s"
    batch_ms = [float(r[0]) for r in _rows(account, recent, (PROBES,))]
    return {
        "trigger_latency_p50_s": round(statistics.median(latencies), 3),
        "trigger_latency_max_s": round(max(latencies), 3),
        "batch_ms_p50": round(statistics.median(batch_ms)),
        "driver_rss_mb": round(steady_rss),
        "peak_rss_mb": round(rss.peak_mb),
    }


# Single files fed one at a time after each history size; their p50 is the trigger latency.
PROBES = 20


def history(ctx: Context, small: int, large: int) -> dict[str, Any]:
    """Trigger latency and driver memory after `small` and after `large` processed files."""
    account = ctx.account("hist")
    drop, archive = ctx.workdir / "hist_drop", ctx.workdir / "hist_archive"
    checkpoint = ctx.workdir / "hist_checkpoint"
    probes = ctx.workdir / "hist_probe"
    backlog = generate(ctx, drop, large, 21)
    generate(ctx, probes, 2 * (PROBES + 1), 21, seed=2)  # new events, not repeats of the backlog's
    probe = sorted(probes.glob("*.csv"))
    base = ["--input-dir", str(drop), "--checkpoint-dir", str(checkpoint),
            "--archive-dir", str(archive)]  # fmt: skip

    # The first `small` files, in big batches, then the probe.
    for path in backlog[small:]:
        os.replace(path, probes / f"later_{path.name}")
    procs.run(["spark-submit", "spark_app/main.py", *base, "--available-now",
               "--max-files-per-trigger", "50"], ctx.env(account), ctx.log("history_fill_small"),
              timeout=3600)  # fmt: skip
    results: dict[str, Any] = {"archive_retention": "see --archive-retention-hours"}
    first, second = probe[: PROBES + 1], probe[PROBES + 1 :]
    results[f"after_{small}"] = _trigger_latency(ctx, account, base, drop, first, "small")

    for path in sorted(probes.glob("later_*.csv")):
        os.replace(path, drop / path.name.removeprefix("later_"))
    procs.run(["spark-submit", "spark_app/main.py", *base, "--available-now",
               "--max-files-per-trigger", "500"], ctx.env(account), ctx.log("history_fill_large"),
              timeout=7200)  # fmt: skip
    results[f"after_{large}"] = _trigger_latency(ctx, account, base, drop, second, "large")
    results["files_left_in_input_dir"] = len(list(drop.glob("*.csv")))
    results["files_in_archive"] = sum(1 for _ in archive.rglob("*.csv"))
    small_latency = results[f"after_{small}"]["trigger_latency_p50_s"]
    results["latency_ratio"] = round(
        results[f"after_{large}"]["trigger_latency_p50_s"] / small_latency, 2
    )
    return results


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
