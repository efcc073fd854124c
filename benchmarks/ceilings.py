"""The catch-up's two halves alone, on the backlog the catch-up reads, in its batches.

Spark's read without a database: the job's own planning and reading of each batch
(`job.batches.plan`, `validated_chunks`), its validated chunks kept as Arrow files. The
database's write without Spark: those chunks committed batch by batch through the job's own
protocol and dialect (`sink.protocol.commit_batch`) into a fresh schema. Each half's time and
CPU bound what the whole can reach: on a machine of C cores, a batch takes at least the
longer half, and at least both halves' CPU divided by C.

The read runs in a process of its own (`python -m benchmarks.ceilings read …`), so that its
CPU is its own and the harness holds no Spark session.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.ipc as ipc

from benchmarks import procs
from benchmarks.databases import Database
from benchmarks.scenarios import Context
from spark_app.job.readahead import listing
from spark_app.parse.pieces import PIECE_BYTES, SourceFile, in_arrival_order
from spark_app.sink import dialect_for
from spark_app.sink.batch import BatchKey, FileEntry
from spark_app.sink.protocol import commit_batch

log = logging.getLogger("benchmarks")

QUERY_ID = "00000000-0000-4000-8000-00000000ce11"
RESULT_PREFIX = "ceilings: "


def batches_of(files: list[Path], per_trigger: int) -> list[list[SourceFile]]:
    """The files as the source admits them: named and timed as its log records them
    (`job.readahead.listing`), in arrival order, `per_trigger` a batch."""
    wanted = {"file:" + os.path.abspath(path) for path in files}
    folders = sorted({os.path.dirname(os.path.abspath(path)) for path in files})
    found = [entry for folder in folders for entry in listing(folder) if entry.path in wanted]
    listed = in_arrival_order(found)
    return [listed[start : start + per_trigger] for start in range(0, len(listed), per_trigger)]


def _tree_cpu(root: psutil.Process) -> dict[str, float]:
    """CPU seconds so far of a process and its descendants, by part (procs.part_of: the JVM,
    the Python driver, the Python workers)."""
    seconds: dict[str, float] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            used = float(sum(process.cpu_times()[:2]))
            part = procs.part_of(process)
        except psutil.Error:
            continue
        seconds[part] = seconds.get(part, 0.0) + used
    return seconds


def _save(table: pa.Table, path: Path) -> None:
    with ipc.new_file(path, table.schema) as out:
        out.write_table(table)


def _read(files: list[Path], per_trigger: int, chunks: Path) -> dict[str, Any]:
    """Read every batch twice (the first pass warms the JVM and the workers up); time the
    second, keep its chunks."""
    from spark_app.job.batches import plan, validated_chunks
    from spark_app.job.session import build_session

    spark = build_session("benchmark-read")
    spark.sparkContext.setLogLevel("ERROR")
    me = psutil.Process()
    passes: list[dict[str, Any]] = []
    try:
        for keep in (False, True):
            before, started, rows = _tree_cpu(me), time.monotonic(), 0
            for number, batch in enumerate(batches_of(files, per_trigger)):
                planned = plan(spark, batch, PIECE_BYTES)
                for index, table in enumerate(validated_chunks(spark, planned, PIECE_BYTES)):
                    rows += table.num_rows
                    if keep:
                        _save(table, chunks / f"{number:06d}_{index:04d}.arrow")
            seconds = time.monotonic() - started
            after = _tree_cpu(me)
            used = {part: after[part] - before.get(part, 0.0) for part in sorted(after)}
            passes.append(
                {
                    "seconds": round(seconds, 2),
                    "records": rows,
                    "cpu_s": {part: round(value, 2) for part, value in used.items()},
                }
            )
    finally:
        spark.stop()
    cold, warm = passes
    return {"cold": cold, "warm": warm, "records_per_s": round(warm["records"] / warm["seconds"])}


def read_alone(ctx: Context, files: list[Path], per_trigger: int, chunks: Path) -> dict[str, Any]:
    """Spark's half, in a process of its own; its chunks are left in `chunks`."""
    chunks.mkdir(parents=True, exist_ok=True)
    log_file = ctx.log(f"ceilings_read_{per_trigger}")
    command = [sys.executable, "-m", "benchmarks.ceilings", "read", "--per-trigger",
               str(per_trigger), "--chunks", str(chunks), *map(str, files)]  # fmt: skip
    procs.run(command, ctx.env, log_file, timeout=3600)
    lines = log_file.read_text(errors="replace").splitlines()
    found = [line[len(RESULT_PREFIX) :] for line in lines if line.startswith(RESULT_PREFIX)]
    if not found:
        raise RuntimeError(f"the read printed no result; see {log_file}")
    return dict(json.loads(found[-1]))


def _server(db: Database) -> psutil.Process:
    """The server's root process (MariaDB's server, PostgreSQL's postmaster)."""
    port = str(db.server.port)
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info["name"] or ""
        arguments = process.info["cmdline"] or []
        # MariaDB's --port=N, PostgreSQL's -p N.
        if name in ("mariadbd", "mysqld", "postgres") and (
            f"--port={port}" in arguments or port in arguments
        ):
            return process
    raise RuntimeError(f"no server process found on port {port}")


def _cpu(process: psutil.Process, *, tree: bool = True) -> float:
    if not tree:
        return float(sum(process.cpu_times()[:2]))
    return sum(_tree_cpu(process).values())


def write_alone(db: Database, files: list[Path], per_trigger: int, chunks: Path) -> dict[str, Any]:
    """The database's half: the read's chunks committed batch by batch, as the job does."""
    schema = db.schema("ceiling")
    dialect = dialect_for(schema.settings("writer"))
    dialect.detect_write_path()
    connection = dialect.batch_connection()
    server, me = _server(db), psutil.Process()
    server_before, client_before = _cpu(server), _cpu(me, tree=False)
    started, rows, per_batch = time.monotonic(), 0, []
    try:
        for number, batch in enumerate(batches_of(files, per_trigger)):
            paths = sorted(chunks.glob(f"{number:06d}_*.arrow"))
            tables = [ipc.open_file(path).read_all() for path in paths]
            entries = [
                FileEntry(entry.path, entry.modified.replace(tzinfo=None), 0) for entry in batch
            ]
            began = time.monotonic()
            record = commit_batch(
                dialect, connection, BatchKey(QUERY_ID, number), iter(tables), entries,
                run_id="ceilings", retries=0, started=began, clock=time.monotonic,
            )  # fmt: skip
            if record is None:
                raise RuntimeError(f"batch {number} was recorded already")
            per_batch.append(time.monotonic() - began)
            rows += record.rows_read
            del tables
    finally:
        connection.close()
        dialect.close()
    seconds = time.monotonic() - started
    return {
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "seconds": round(seconds, 2),
        "batch_s_p50": round(sorted(per_batch)[len(per_batch) // 2], 2),
        "write_path": dialect.write_path(),
        "cpu_s": {
            "server": round(_cpu(server) - server_before, 2),
            # This process alone: the servers it started are its children.
            "client": round(_cpu(me, tree=False) - client_before, 2),
        },
    }


def ceilings(
    db: Database, files: list[Path], per_trigger: int, read: dict[str, Any], chunks: Path
) -> dict[str, Any]:
    """Both halves for one sink, and the bound they set on this machine's cores."""
    write = write_alone(db, files, per_trigger, chunks)
    rows = write["rows"]
    cpu = sum(read["warm"]["cpu_s"].values()) + sum(write["cpu_s"].values())
    cores = os.cpu_count() or 1
    bound_s = max(read["warm"]["seconds"], write["seconds"], cpu / cores)
    return {
        "files_per_trigger": per_trigger,
        "read": read,
        "write": write,
        "cores": cores,
        # Rows (valid and quarantined alike) per second at that bound.
        "bound_rows_per_s": round(rows / bound_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceilings")
    parser.add_argument("half", choices=["read"])
    parser.add_argument("--per-trigger", type=int, required=True)
    parser.add_argument("--chunks", type=Path, required=True)
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    result = _read(args.files, args.per_trigger, args.chunks)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
