"""`ingest-health`: is the stream healthy? Exit 0 or 1 and one line saying why.

Conditions, checked in this order (the first that fails is the reason):

1. The database is reachable (MYSQL_* settings, or PG* with INGEST_SINK=postgresql).
2. The stream is alive: its latest run record is `running` and was refreshed within
   --max-heartbeat-age seconds (the job refreshes it every RUN_RECORD_INTERVAL_SECONDS, 60 by
   default). A stream that ended or died is not healthy, even with nothing waiting; pass
   --allow-stopped where the job runs with --available-now on a schedule.
3. A batch was committed within --max-age seconds. An idle stream is healthy: with --input-dir,
   an old (or no) last commit is fine while no file is waiting.
4. With --checkpoint-dir: no batch has been pending (planned in the checkpoint, not committed)
   for longer than --max-age seconds: the stream stopped on it (a refusal no row explains) or
   hangs in it. `ingest-batches list` says more.
5. With --input-dir: at most --max-waiting-files files are waiting (visible *.csv files modified
   after the newest file of the last committed batch; the file source takes files oldest first).
6. Rejected rows are at most --max-reject-share of the rows read by the last --reject-window
   batches.
7. With --integrity: `ingest-integrity` finds no violation (its checks scan events, so run this
   one from a timer rather than a frequent container health check).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from spark_app.commands import integrity
from spark_app.common import batch_metrics as batchstats
from spark_app.common.backlog import waiting_files
from spark_app.common.batch_metrics import LastBatch, LastRun, RecentRejects
from spark_app.common.checkpoint import PendingBatch, pending_batch
from spark_app.common.database import DatabaseSettings, SettingsError, sink_from_env
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_FAILED, EXIT_OK
from spark_app.common.numbers import non_negative_int, number_arg, positive_int
from spark_app.sink.drivers import connect, database_errors, is_missing_table


@dataclass(frozen=True)
class Limits:
    """The thresholds of the check."""

    max_age: float = 300.0
    max_waiting_files: int = 50
    max_reject_share: float = 0.2
    reject_window: int = 20
    max_heartbeat_age: float = 180.0
    allow_stopped: bool = False


@dataclass(frozen=True)
class Observed:
    """What the check saw."""

    last: LastBatch | None
    waiting: int | None  # None: no --input-dir
    rejects: RecentRejects
    run: LastRun | None = None
    pending: PendingBatch | None = None  # None: no --checkpoint-dir, or nothing pending


def verdict(seen: Observed, limits: Limits) -> tuple[bool, str]:
    """(healthy, reason) for what was seen; pure, so each rule is tested on its own."""
    idle = seen.waiting == 0
    waiting = "" if seen.waiting is None else f", {seen.waiting} file(s) waiting"
    pending = seen.pending
    held = "" if pending is None else f", {_held(pending)}"
    alive = _liveness(seen.run, limits)
    if alive is not None:
        return False, alive + waiting + held
    if pending is not None and pending.pending_s > limits.max_age:
        return False, (
            f"{_held(pending)} (max {limits.max_age:g} s){waiting}: see ingest-batches list"
        )
    if seen.last is None and not idle:
        return False, f"no batch committed yet{waiting}"
    if seen.last is not None and seen.last.committed_s_ago > limits.max_age and not idle:
        return False, (
            f"last batch committed {seen.last.committed_s_ago:.0f} s ago"
            f" (max {limits.max_age:g} s){waiting}"
        )
    if seen.waiting is not None and seen.waiting > limits.max_waiting_files:
        return False, f"{seen.waiting} files waiting (max {limits.max_waiting_files})"
    share = seen.rejects.share
    window = f"of the last {seen.rejects.batches} batches"
    if share > limits.max_reject_share:
        return False, (
            f"rejected {100 * share:.1f} % of rows {window}"
            f" (max {100 * limits.max_reject_share:g} %)"
        )
    last = (
        "no batch yet" if seen.last is None else f"last batch {seen.last.committed_s_ago:.0f} s ago"
    )
    stale = seen.last is None or seen.last.committed_s_ago > limits.max_age
    state = "idle, " if idle and stale else ""
    return True, f"{state}{last}{waiting}{held}, rejected {100 * share:.1f} % {window}"


def _held(pending: PendingBatch) -> str:
    return f"batch {pending.batch_id} pending for {pending.pending_s:.0f} s"


def _liveness(run: LastRun | None, limits: Limits) -> str | None:
    """Why the stream is not alive, or None when it is (or when that is not asked)."""
    if limits.allow_stopped:
        return None
    if run is None:
        return "the stream has never run (no run record in pipeline_runs)"
    if run.state != "running":
        return f"the stream is not running: run {run.run_id} {run.state}"
    if run.recorded_s_ago > limits.max_heartbeat_age:
        return (
            f"no sign of life from run {run.run_id} for {run.recorded_s_ago:.0f} s"
            f" (max {limits.max_heartbeat_age:g} s): the job died or hangs"
        )
    return None


def observe(
    settings: DatabaseSettings,
    input_dir: Path | None,
    window: int,
    checkpoint_dir: Path | None = None,
) -> Observed:
    """Ask the database (and the drop folder, the checkpoint); a database error when it cannot."""
    with connect(settings, timeout=5) as handle:
        try:
            last = batchstats.last_batch(handle)
            rejects = batchstats.recent_rejects(handle, window)
            run = batchstats.last_run(handle)
        except database_errors() as exc:
            if not is_missing_table(exc):
                raise
            last, rejects, run = None, RecentRejects(0, 0, 0), None
    waiting = None
    if input_dir is not None:
        waiting = waiting_files(input_dir, last.newest_file_s_ago if last else None)
    pending = None if checkpoint_dir is None else pending_batch(str(checkpoint_dir))
    return Observed(last, waiting, rejects, run, pending)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    limits = Limits()
    parser = argparse.ArgumentParser(
        prog="ingest-health",
        description="Exit 0 when the stream is healthy, 1 when not; one line says why.",
    )
    parser.add_argument(
        "--max-age", type=number_arg(float, above=0), default=limits.max_age, help="seconds"
    )
    parser.add_argument("--input-dir", type=Path, default=None, help="the drop folder")
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="the stream's checkpoint: a batch pending longer than --max-age is unhealthy",
    )
    parser.add_argument(
        "--max-waiting-files", type=non_negative_int, default=limits.max_waiting_files
    )
    parser.add_argument(
        "--max-reject-share",
        type=number_arg(float, minimum=0, maximum=1),
        default=limits.max_reject_share,
    )
    parser.add_argument(
        "--max-heartbeat-age",
        type=number_arg(float, above=0),
        default=limits.max_heartbeat_age,
        help="seconds since the running job last refreshed its run record",
    )
    parser.add_argument(
        "--allow-stopped",
        action="store_true",
        help="a stream that is not running is fine (scheduled --available-now runs)",
    )
    parser.add_argument(
        "--integrity",
        action="store_true",
        help="also run ingest-integrity's checks (they scan events: not every few seconds)",
    )
    parser.add_argument(
        "--reject-window",
        type=positive_int,
        default=limits.reject_window,
        help="batches",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print `healthy: ...` or `unhealthy: ...`; returns 0 or 1."""
    args = build_parser().parse_args(argv)
    limits = Limits(
        args.max_age,
        args.max_waiting_files,
        args.max_reject_share,
        args.reject_window,
        args.max_heartbeat_age,
        args.allow_stopped,
    )
    try:
        settings = sink_from_env(os.environ)
    except SettingsError as exc:
        print(f"unhealthy: {exc}")
        return EXIT_FAILED
    try:
        seen = observe(settings, args.input_dir, limits.reject_window, args.checkpoint_dir)
    except database_errors(OSError) as exc:
        print(f"unhealthy: database unreachable at {settings.address}: {summarize(exc)}")
        return EXIT_FAILED
    healthy, reason = verdict(seen, limits)
    if healthy and args.integrity:
        problem = _integrity_problem(settings)
        if problem:
            healthy, reason = False, problem
    print(f"{'healthy' if healthy else 'unhealthy'}: {reason}")
    return EXIT_OK if healthy else EXIT_FAILED


def _integrity_problem(settings: DatabaseSettings) -> str | None:
    """The integrity check's violations in one line, or None when there are none."""
    try:
        with connect(settings, timeout=5) as handle:
            findings = integrity.check(handle, integrity.DEFAULT_GRACE_SECONDS, datetime.now(UTC))
    except database_errors() as exc:
        if is_missing_table(exc):
            return None
        return f"integrity check failed: {summarize(exc)}"
    if not findings:
        return None
    return "integrity: " + "; ".join(integrity.lines(findings)[:-1])


if __name__ == "__main__":
    sys.exit(main())
