"""The health check's rules (pure) and the backlog count of the drop folder."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from spark_app.commands.health import Limits, Observed, verdict
from spark_app.common.backlog import is_visible, waiting_files
from spark_app.common.batch_metrics import LastBatch, LastRun, RecentRejects

LIMITS = Limits(max_age=300, max_waiting_files=10, max_reject_share=0.2, reject_window=20)
FRESH = LastBatch(committed_s_ago=5, newest_file_s_ago=25)
CLEAN = RecentRejects(batches=20, rows_read=420, rows_rejected=21)
ALIVE = LastRun("20260101_120000", "running", recorded_s_ago=30)


def seen(
    last: LastBatch | None, waiting: int | None, rejects: RecentRejects, run: LastRun | None = ALIVE
) -> Observed:
    """What the check saw; by default the stream's run record says it is running."""
    return Observed(last, waiting, rejects, run)


def test_healthy() -> None:
    assert verdict(seen(FRESH, 0, CLEAN), LIMITS) == (
        True,
        "last batch 5 s ago, 0 file(s) waiting, rejected 5.0 % of the last 20 batches",
    )


def test_stale_commit_without_input_dir() -> None:
    stale = LastBatch(committed_s_ago=900, newest_file_s_ago=920)
    assert verdict(seen(stale, None, CLEAN), LIMITS) == (
        False,
        "last batch committed 900 s ago (max 300 s)",
    )


def test_stale_commit_with_files_waiting() -> None:
    stale = LastBatch(committed_s_ago=900, newest_file_s_ago=920)
    assert verdict(seen(stale, 3, CLEAN), LIMITS) == (
        False,
        "last batch committed 900 s ago (max 300 s), 3 file(s) waiting",
    )


def test_idle_stream_is_healthy() -> None:
    stale = LastBatch(committed_s_ago=900, newest_file_s_ago=920)
    healthy, reason = verdict(seen(stale, 0, CLEAN), LIMITS)
    assert healthy and reason.startswith("idle, last batch 900 s ago")
    healthy, reason = verdict(seen(None, 0, RecentRejects(0, 0, 0)), LIMITS)
    assert healthy and reason.startswith("idle, no batch yet")


def test_no_batch_yet() -> None:
    assert verdict(seen(None, None, RecentRejects(0, 0, 0)), LIMITS) == (
        False,
        "no batch committed yet",
    )
    assert verdict(seen(None, 4, RecentRejects(0, 0, 0)), LIMITS) == (
        False,
        "no batch committed yet, 4 file(s) waiting",
    )


def test_too_many_files_waiting() -> None:
    assert verdict(seen(FRESH, 11, CLEAN), LIMITS) == (False, "11 files waiting (max 10)")
    assert verdict(seen(FRESH, 10, CLEAN), LIMITS)[0]


def test_too_many_rejects() -> None:
    rejects = RecentRejects(batches=20, rows_read=400, rows_rejected=100)
    assert verdict(seen(FRESH, 0, rejects), LIMITS) == (
        False,
        "rejected 25.0 % of rows of the last 20 batches (max 20 %)",
    )


@pytest.mark.parametrize(
    ("name", "visible"),
    [("a.csv", True), (".a.csv.tmp", False), ("_a.csv", False), (".a.csv", False),
     ("a.csv.tmp", False), ("a.txt", False)],
)  # fmt: skip
def test_only_names_the_stream_reads_count(name: str, visible: bool) -> None:
    assert is_visible(name) is visible


def test_waiting_files_are_those_after_the_newest_committed_file(tmp_path: Path) -> None:
    now = time.time()
    for age, name in ((100, "old.csv"), (60, "done.csv"), (30, "new1.csv"), (10, "new2.csv")):
        path = tmp_path / name
        path.write_text("x")
        os.utime(path, (now - age, now - age))
    (tmp_path / ".hidden.csv.tmp").write_text("x")
    (tmp_path / "sub").mkdir()
    assert waiting_files(tmp_path, newest_done_s_ago=60, now=now) == 2
    assert waiting_files(tmp_path, newest_done_s_ago=None, now=now) == 4
    assert waiting_files(tmp_path / "absent", newest_done_s_ago=None) == 0


# Liveness: the run record's state and heartbeat ---------------------------------------------


def test_a_stream_that_never_ran_is_unhealthy() -> None:
    assert verdict(seen(FRESH, 0, CLEAN, run=None), LIMITS) == (
        False,
        "the stream has never run (no run record in pipeline_runs), 0 file(s) waiting",
    )


@pytest.mark.parametrize("state", ["finished", "failed", "stopped"])
def test_a_stream_that_ended_is_unhealthy_even_when_idle(state: str) -> None:
    ended = LastRun("20260101_120000", state, recorded_s_ago=5)
    assert verdict(seen(FRESH, 0, CLEAN, run=ended), LIMITS) == (
        False,
        f"the stream is not running: run 20260101_120000 {state}, 0 file(s) waiting",
    )


def test_a_running_record_without_a_recent_heartbeat_is_a_dead_job() -> None:
    silent = LastRun("20260101_120000", "running", recorded_s_ago=181)
    assert verdict(seen(FRESH, None, CLEAN, run=silent), LIMITS) == (
        False,
        "no sign of life from run 20260101_120000 for 181 s (max 180 s): the job died or hangs",
    )
    just_in_time = LastRun("20260101_120000", "running", recorded_s_ago=180)
    assert verdict(seen(FRESH, None, CLEAN, run=just_in_time), LIMITS)[0]


def test_liveness_comes_before_the_other_rules() -> None:
    many_rejects = RecentRejects(batches=20, rows_read=400, rows_rejected=400)
    healthy, reason = verdict(seen(None, 99, many_rejects, run=None), LIMITS)
    assert not healthy
    assert reason.startswith("the stream has never run")


def test_allow_stopped_skips_liveness_but_not_the_other_rules() -> None:
    lenient = replace(LIMITS, allow_stopped=True)
    ended = LastRun("20260101_120000", "finished", recorded_s_ago=9999)
    assert verdict(seen(FRESH, 0, CLEAN, run=ended), lenient)[0]
    assert verdict(seen(FRESH, 0, CLEAN, run=None), lenient)[0]
    assert verdict(seen(FRESH, 11, CLEAN, run=None), lenient) == (
        False,
        "11 files waiting (max 10)",
    )
